import pytest
import torch

from kinema.config import TextConfig
from kinema.errors import KinemaError
from kinema.text import LearnedTextEncoder, WordTokenizer


def test_tokenizer_ids_mask_and_unknown_words():
    tokenizer = WordTokenizer(("a", "red", "circle"), max_tokens=6)
    ids, mask = tokenizer(["A red circle!", "", "a crimson circle"])
    assert ids.shape == mask.shape == (3, 4)  # padded to the longest row, not max_tokens
    assert mask.sum(1).tolist() == [4, 1, 4]  # [BOS] + words; the empty prompt keeps [BOS]
    assert ids[0, 0] == ids[1, 0] == tokenizer.ids["[BOS]"]
    assert ids[2, 2] == tokenizer.ids["[UNK]"]
    assert tokenizer.unknown_words("a crimson circle") == ["crimson"]


def test_tokenizer_refuses_too_long_prompts():
    tokenizer = WordTokenizer(("a",), max_tokens=4)
    with pytest.raises(KinemaError, match="at most 3"):
        tokenizer(["a a a a"])


def test_encoder_shapes_and_padding_independence():
    torch.manual_seed(0)
    encoder = LearnedTextEncoder(
        TextConfig(
            vocabulary=("a", "red", "blue", "circle"), max_tokens=8, width=16, depth=1, num_heads=2
        )
    ).eval()
    tokens, mask = encoder.encode(["a red circle", "blue"])
    assert tokens.shape == (2, 4, 16) and mask.dtype == torch.bool  # the longest row: 4
    alone, _ = encoder.encode(["a red circle"])
    blue, _ = encoder.encode(["blue"])
    assert torch.allclose(tokens[1, :2], blue[0], atol=1e-6)  # nor on how far it is padded
    # Real tokens do not depend on what else is in the batch (padding is masked out).
    assert torch.allclose(tokens[0, :4], alone[0, :4], atol=1e-6)
