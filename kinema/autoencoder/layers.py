"""Building blocks of the causal video autoencoder.

Every layer here is causal in time: output frame t depends only on input frames <= t.
Tensors are `(B, C, T, H, W)`; the model keeps them in `channels_last_3d` memory, which
the convolutions and the per-frame GroupNorm below run fastest on (CPU and GPU alike).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def channels_last(x: Tensor) -> Tensor:
    """`x` in `channels_last_3d` memory (a no-op when it already is)."""
    return x.contiguous(memory_format=torch.channels_last_3d)


class CausalConv3d(nn.Module):
    """3D convolution that pads time on the left only, by repeating the first frame.

    Padding `kernel_t - 1` copies of frame 0 lets a one-frame input through and keeps every
    output frame blind to later inputs. Height and width are zero-padded symmetrically.
    With `kernel_t = 2, stride_t = 2` this is the causal temporal halving: frame 0 is paired
    with its own copy, then frames (1, 2), (3, 4), ... are combined, so 1 + 2m -> 1 + m.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int, int] = (3, 3, 3),
        stride: tuple[int, int, int] = (1, 1, 1),
    ) -> None:
        super().__init__()
        kernel_t, kernel_h, kernel_w = kernel_size
        self.time_pad = kernel_t - 1
        self.conv = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(0, kernel_h // 2, kernel_w // 2),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.time_pad:
            # (B, C, T, H, W) -> (B, C, time_pad + T, H, W), the new frames copies of frame 0
            x = F.pad(x, (0, 0, 0, 0, self.time_pad, 0), mode="replicate")
        return self.conv(x)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm with statistics per frame (time folded into the batch), so never across time."""

    def __init__(self, channels: int) -> None:
        # Four or more channels per group: one-channel groups would erase each channel's
        # per-frame mean, which carries the colour of flat regions.
        super().__init__(num_groups=max(1, min(32, channels // 4)), num_channels=channels, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        frames = rearrange(x, "b c t h w -> (b t) c h w")  # a view in channels_last_3d memory
        frames = super().forward(frames)
        return rearrange(frames, "(b t) c h w -> b c t h w", b=batch)


class ResBlock(nn.Module):
    """Pre-activation residual block: (norm, SiLU, conv) twice plus a skip.

    `temporal_kernel` is the first convolution's kernel length in time (3 mixes the two
    previous frames in causally, 1 keeps the block per frame, which is cheap at full size).
    """

    def __init__(self, in_channels: int, out_channels: int, temporal_kernel: int = 3) -> None:
        super().__init__()
        self.norm1 = FrameGroupNorm(in_channels)
        self.conv1 = CausalConv3d(in_channels, out_channels, (temporal_kernel, 3, 3))
        self.norm2 = FrameGroupNorm(out_channels)
        self.conv2 = CausalConv3d(out_channels, out_channels, (1, 3, 3))
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv3d(in_channels, out_channels, kernel_size=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Strided convolution halving height and width and/or time (causally), changing width."""

    def __init__(self, in_channels: int, out_channels: int, space: bool, time: bool) -> None:
        super().__init__()
        kernel = (2 if time else 1, 3, 3)
        stride = (2 if time else 1, 2 if space else 1, 2 if space else 1)
        self.conv = CausalConv3d(in_channels, out_channels, kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """The mirror of `Downsample`: doubles height and width and/or time, changing width.

    Time: a causal conv predicts two frames per input frame, which are unfolded in order;
    the first frame's first copy is dropped, so 1 + m frames become 1 + 2m, frame 0 stays
    alone and latent frame j only reaches output frames >= 2j - 1. Space: a 3×3 conv changes
    the width, then nearest-neighbour doubling. Convolving before doubling costs a quarter
    of the usual double-then-convolve and trained as well in short runs; the next ResBlock
    smooths the blocks.
    """

    def __init__(self, in_channels: int, out_channels: int, space: bool, time: bool) -> None:
        super().__init__()
        self.space = space
        self.time_conv = CausalConv3d(in_channels, 2 * in_channels, (3, 1, 1)) if time else None
        self.conv = CausalConv3d(in_channels, out_channels, (1, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        if self.time_conv is not None:
            x = self.time_conv(x)
            # (B, 2C, t, H, W) -> (B, C, 2t, H, W): each frame becomes two consecutive frames
            x = rearrange(x, "b (two c) t h w -> b c (t two) h w", two=2)
            x = channels_last(x[:, :, 1:])  # (B, C, 2t - 1, H, W)
        x = self.conv(x)
        if self.space:
            x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return x
