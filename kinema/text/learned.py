"""A small text transformer trained together with the diffusion transformer."""

import torch
from torch import Tensor, nn

from kinema.config import TextConfig
from kinema.text.tokenizer import WordTokenizer


class LearnedTextEncoder(nn.Module):
    """Word embeddings + learned positions + a pre-norm transformer encoder."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = WordTokenizer(cfg.vocabulary, cfg.max_tokens)
        self.embed = nn.Embedding(len(self.tokenizer), cfg.width)
        self.position = nn.Parameter(torch.zeros(cfg.max_tokens, cfg.width))
        layer = nn.TransformerEncoderLayer(
            d_model=cfg.width,
            nhead=cfg.num_heads,
            dim_feedforward=4 * cfg.width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.position, std=0.02)

    @property
    def dim(self) -> int:
        return self.cfg.width

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids, mask: (B, L) -> token states (B, L, width)."""
        x = self.embed(ids) + self.position[: ids.shape[1]]
        x = self.blocks(x, src_key_padding_mask=~mask)
        return self.norm(x)

    def encode(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """texts -> (tokens (B, L, width), mask (B, L) bool) on the encoder's device."""
        ids, mask = self.tokenizer(texts)
        device = self.embed.weight.device
        ids, mask = ids.to(device), mask.to(device)
        return self(ids, mask), mask
