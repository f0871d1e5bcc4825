"""The repeated blocks of a model: the units compiled one by one (and, on ranks, sharded)."""

from __future__ import annotations

from torch import nn


def repeated_blocks(model: nn.Module) -> list[nn.Module]:
    """The units sharded, checkpointed and compiled one by one: a transformer's blocks, or
    else the model's top-level parts that hold weights (an autoencoder's encoder, decoder)."""
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.TransformerEncoder):
        return list(blocks.layers)
    if isinstance(blocks, nn.ModuleList):
        return list(blocks)
    return [child for child in model.children() if any(True for _ in child.parameters())]


def compile_blocks(model: nn.Module) -> None:
    """`torch.compile` each repeated block in place: the model keeps its class, attribute
    names and state-dict keys, and a deep copy (an EMA copy for samples) stays correct."""
    for block in repeated_blocks(model):
        block.compile()
