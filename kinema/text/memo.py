"""Frozen text states per caption, each caption encoded once, and the padding between them."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn


def pad_tokens(tokens: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Per-caption (L_i, D) states -> (tokens (B, L, D) zero-padded, mask (B, L) bool)."""
    length = max(1, max(len(t) for t in tokens))
    padded = tokens[0].new_zeros(len(tokens), length, tokens[0].shape[-1])
    mask = torch.zeros(len(tokens), length, dtype=torch.bool, device=tokens[0].device)
    for row, states in enumerate(tokens):
        padded[row, : len(states)] = states
        mask[row, : len(states)] = True
    return padded, mask


def split_tokens(tokens: Tensor, mask: Tensor) -> list[Tensor]:
    """(B, L, D) states and their (B, L) mask -> one (L_i, D) tensor per caption."""
    return [states[valid] for states, valid in zip(tokens, mask, strict=True)]


class FrozenTextMemo:
    """A frozen text encoder's states per caption, each caption encoded once (kept on CPU).

    A pretrained encoder costs more than the transformer step at small sizes (MiniLM: 0.2 s
    for 32 captions on 2 cores; 13 ms even for the empty prompt, most of it per-layer
    overhead), and captions repeat: a training pool's, and the negative prompt of every
    generation. `capacity` bounds the memo to the most recently used captions (None: all).
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.states: OrderedDict[str, Tensor] = OrderedDict()

    def states_of(self, text_encoder: nn.Module, captions: list[str]) -> list[Tensor]:
        """One (L_i, D) tensor per caption, encoding (in one batch) only those not seen yet."""
        unseen = [c for c in dict.fromkeys(captions) if c not in self.states]
        found = {c: self.states[c] for c in captions if c in self.states}
        if unseen:
            with torch.no_grad():
                states = split_tokens(*text_encoder.encode(unseen))
            found.update((c, s.cpu()) for c, s in zip(unseen, states, strict=True))
        for caption, states in found.items():  # most recently used last
            self.states[caption] = states
            self.states.move_to_end(caption)
        while self.capacity is not None and len(self.states) > self.capacity:
            self.states.popitem(last=False)
        return [found[c] for c in captions]

    def holds(self, captions: list[str]) -> bool:
        """Whether every caption's states are here (no encoder needed)."""
        return all(c in self.states for c in captions)

    def forget(self, captions: list[str] | None = None) -> None:
        """Drop these captions' states (None: all of them)."""
        if captions is None:
            self.states.clear()
        for caption in captions or ():
            self.states.pop(caption, None)

    def encode(
        self, text_encoder: nn.Module, captions: list[str], device: torch.device
    ) -> tuple[Tensor, Tensor]:
        tokens, mask = pad_tokens(self.states_of(text_encoder, captions))
        return tokens.to(device), mask.to(device)
