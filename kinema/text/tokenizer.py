"""A word-level tokenizer over a fixed vocabulary.

The learned encoder only ever sees the procedural world's captions, whose words form a
small closed set, so whole words are the most sample-efficient unit: a byte or sub-word
tokenizer would make the tiny encoder learn spelling before meaning.
"""

import re

import torch
from torch import Tensor

from kinema.errors import KinemaError

PAD, UNK, BOS = "[PAD]", "[UNK]", "[BOS]"
SPECIAL_TOKENS = (PAD, UNK, BOS)
_WORD = re.compile(r"[a-z]+")


def split_words(text: str) -> list[str]:
    """Lowercase words; digits and punctuation are dropped."""
    return _WORD.findall(text.lower())


class WordTokenizer:
    def __init__(self, vocabulary: tuple[str, ...] | list[str], max_tokens: int) -> None:
        self.tokens = list(SPECIAL_TOKENS) + [w for w in vocabulary if w not in SPECIAL_TOKENS]
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        self.max_tokens = max_tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def __call__(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """texts -> (ids (B, L) long, mask (B, L) bool, True = real token).

        Every row starts with [BOS], so no row is empty (the empty prompt is the
        unconditional input for classifier-free guidance). L is the longest row's length,
        not `max_tokens`: padding costs the text encoder and every cross-attention as much
        as words do, and training captions are about a third of the limit.
        """
        rows = []
        for text in texts:
            words = split_words(text)
            if len(words) + 1 > self.max_tokens:
                raise KinemaError(
                    f"prompt has {len(words)} words; this model reads at most {self.max_tokens - 1}"
                )
            rows.append([self.ids[BOS]] + [self.ids.get(w, self.ids[UNK]) for w in words])
        length = max((len(row) for row in rows), default=1)
        ids = torch.full((len(texts), length), self.ids[PAD], dtype=torch.long)
        mask = torch.zeros((len(texts), length), dtype=torch.bool)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = torch.tensor(row)
            mask[index, : len(row)] = True
        return ids, mask

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in split_words(text) if w not in self.ids]
