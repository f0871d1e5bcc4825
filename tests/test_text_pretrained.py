"""Frozen pretrained text encoders from local folders: MiniLM (pinned) and any HF encoder."""

import shutil

import pytest
import torch

from kinema.config import TextConfig
from kinema.errors import KinemaError
from kinema.text import build_text_encoder
from kinema.text.memo import FrozenTextMemo
from kinema.text.pretrained import MINILM_SHA256, PretrainedTextEncoder, minilm_folder

TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


@pytest.fixture(scope="module")
def minilm():
    return build_text_encoder(TextConfig(kind="minilm", max_tokens=32))


def _pooled(encoder, texts):
    tokens, mask = encoder.encode(texts)
    weights = mask.float().unsqueeze(-1)
    pooled = (tokens * weights).sum(1) / weights.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def test_minilm_gives_token_states_and_mask(minilm):
    tokens, mask = minilm.encode(["a red circle moves left", ""])
    # [CLS] + 5 words + [SEP]: padded to the longest row, not max_tokens
    assert tokens.shape == (2, 7, 384) and minilm.dim == 384
    assert mask.dtype == torch.bool and mask[0].sum() > mask[1].sum() >= 1
    assert not any(p.requires_grad for p in minilm.parameters())


def test_minilm_generalises_to_paraphrases(minilm):
    crimson, red, blue = _pooled(
        minilm,
        ["a crimson ball drifting leftwards", "a red circle moves left", "a blue square moves up"],
    )
    assert crimson @ red > crimson @ blue


def test_a_memo_encodes_each_caption_once_and_gives_the_encoders_states(minilm):
    memo, calls, cpu = FrozenTextMemo(), [], torch.device("cpu")

    class Counting(torch.nn.Module):
        def encode(self, captions):
            calls.append(list(captions))
            return minilm.encode(captions)

    first = ["a red circle moves left", "", "a red circle moves left"]
    memo.encode(Counting(), first, cpu)
    tokens, mask = memo.encode(Counting(), ["", "a blue star falls to the floor"], cpu)
    assert calls == [["a red circle moves left", ""], ["a blue star falls to the floor"]]
    direct, direct_mask = minilm.encode(["", "a blue star falls to the floor"])
    assert torch.equal(mask, direct_mask)
    torch.testing.assert_close(tokens[mask], direct[direct_mask], atol=1e-5, rtol=1e-5)


def test_a_bounded_memo_keeps_the_most_recently_used_captions(minilm):
    memo, cpu = FrozenTextMemo(capacity=2), torch.device("cpu")
    memo.encode(minilm, ["a", "b"], cpu)
    memo.encode(minilm, ["a"], cpu)  # "a" is now more recent than "b"
    memo.encode(minilm, ["c"], cpu)
    assert list(memo.states) == ["a", "c"]
    tokens, mask = memo.encode(minilm, ["c", "a", "b"], cpu)  # more than it keeps, at once
    assert list(memo.states) == ["a", "b"]  # the last used, in the order used
    direct, direct_mask = minilm.encode(["c", "a", "b"])
    assert torch.equal(mask, direct_mask)
    torch.testing.assert_close(tokens[mask], direct[direct_mask], atol=1e-5, rtol=1e-5)


def test_minilm_refuses_long_prompts(minilm):
    with pytest.raises(KinemaError, match="at most 32"):
        minilm.encode(["word " * 40])


def test_tampered_weights_are_refused(tmp_path):
    folder = tmp_path / "minilm"
    shutil.copytree(minilm_folder(), folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(KinemaError, match="SHA-256"):
        PretrainedTextEncoder(folder, 16, expected_sha256=MINILM_SHA256)


def _save_tiny(model, folder):
    model.save_pretrained(folder, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_folder() / name, folder / name)


@pytest.mark.parametrize("kind", ["t5", "clip"])
def test_any_local_huggingface_encoder_folder(kind, tmp_path):
    import transformers

    torch.manual_seed(0)
    if kind == "t5":
        config = transformers.T5Config(
            vocab_size=30522, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4
        )
        model = transformers.T5EncoderModel(config)
    else:
        config = transformers.CLIPTextConfig(
            vocab_size=30522,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            max_position_embeddings=64,
        )
        model = transformers.CLIPTextModel(config)
    _save_tiny(model, tmp_path)
    encoder = build_text_encoder(
        TextConfig(kind="huggingface", path=str(tmp_path), max_tokens=16, dtype="bfloat16")
    )
    tokens, mask = encoder.encode(["a red circle", "a blue star moves up"])
    assert tokens.shape[::2] == (2, 32) and tokens.dtype == torch.float32
    assert tokens.shape[1] == mask[1].sum() > mask[0].sum()  # padded to the longest row
    assert next(encoder.model.parameters()).dtype == torch.bfloat16


def test_bad_configurations_are_clear(tmp_path):
    with pytest.raises(KinemaError, match="needs a local folder"):
        build_text_encoder(TextConfig(kind="huggingface"))
    with pytest.raises(KinemaError, match="no config.json"):
        build_text_encoder(TextConfig(kind="huggingface", path=str(tmp_path)))
    with pytest.raises(KinemaError, match="unknown text encoder kind"):
        build_text_encoder(TextConfig(kind="gpt"))
