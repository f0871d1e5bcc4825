"""Text encoders: `encode(list[str]) -> (tokens (B, L, D), mask (B, L))`, chosen by config."""

from pathlib import Path

from torch import nn

from kinema.config import TextConfig
from kinema.errors import KinemaError
from kinema.text.learned import LearnedTextEncoder
from kinema.text.tokenizer import WordTokenizer

TEXT_ENCODER_KINDS = ("learned", "minilm", "huggingface")


def build_text_encoder(cfg: TextConfig) -> nn.Module:
    """The encoder a config names. Only the learned one has weights of its own to train."""
    if cfg.kind == "learned":
        return LearnedTextEncoder(cfg)
    from kinema.text.pretrained import PretrainedTextEncoder, minilm_encoder

    if cfg.kind == "minilm":
        return minilm_encoder(cfg.max_tokens, cfg.dtype)
    if cfg.kind == "huggingface":
        if not cfg.path:
            raise KinemaError("text encoder kind 'huggingface' needs a local folder in `path`")
        return PretrainedTextEncoder(Path(cfg.path), cfg.max_tokens, cfg.dtype)
    raise KinemaError(
        f"unknown text encoder kind '{cfg.kind}'; choose one of {', '.join(TEXT_ENCODER_KINDS)}"
    )


def is_trainable(cfg: TextConfig) -> bool:
    return cfg.kind == "learned"


__all__ = [
    "TEXT_ENCODER_KINDS",
    "LearnedTextEncoder",
    "WordTokenizer",
    "build_text_encoder",
    "is_trainable",
]
