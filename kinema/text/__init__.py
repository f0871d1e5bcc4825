"""Text encoders: `encode(list[str]) -> (tokens (B, L, D), mask (B, L))`."""

from kinema.text.learned import LearnedTextEncoder
from kinema.text.tokenizer import WordTokenizer

__all__ = ["LearnedTextEncoder", "WordTokenizer"]
