"""Prompt expansion: the world grammar fills what a prompt leaves free; a local LM hook."""

import pytest

from kinema.errors import KinemaError
from kinema.eval.parser import parse_prompt
from kinema.text.expansion import LocalLanguageModelExpander, expand_world_prompt

PROMPTS = [
    "green square going up",
    "a red circle",
    "a big blue star falls and a small yellow triangle moves right on gray",
    "a crimson ball drifting leftwards",
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_expansion_keeps_what_the_prompt_states_and_fills_the_rest(prompt):
    from kinema.text.expansion import normalise_words

    stated = parse_prompt(normalise_words(prompt))
    for seed in range(5):
        expanded = parse_prompt(expand_world_prompt(prompt, seed))
        assert expanded.background is not None
        assert len(expanded.objects) == len(stated.objects)
        for before, after in zip(stated.objects, expanded.objects, strict=True):
            for field in ("colour", "shape", "size", "motion", "speed"):
                if getattr(before, field) is not None:
                    assert getattr(after, field) == getattr(before, field), (prompt, field)
            assert after.colour and after.shape and after.size and after.motion


def test_expansion_is_seeded_and_varies():
    assert expand_world_prompt("a red circle", 3) == expand_world_prompt("a red circle", 3)
    assert len({expand_world_prompt("a red circle", s) for s in range(10)}) > 5


def test_invisible_object_is_refused():
    with pytest.raises(KinemaError, match="cannot be seen"):
        expand_world_prompt("a white circle on a white background")


def test_local_language_model_hook(tmp_path):
    """A tiny causal LM saved to a local folder expands prompts, deterministically per seed."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"])
    tokenizer.train_from_iterator(["a red circle moves left on a black background"] * 20, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", eos_token="<eos>"
    )
    fast.save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=len(fast), n_embd=32, n_layer=1, n_head=2, n_positions=256
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path, safe_serialization=True)
    expander = LocalLanguageModelExpander(tmp_path, max_new_tokens=8)
    first, again = expander("a red circle", 1), expander("a red circle", 1)
    assert isinstance(first, str) and first and first == again
