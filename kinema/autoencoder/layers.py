"""Building blocks of the causal video autoencoder.

Every layer here is causal in time: output frame t depends only on input frames <= t.
Tensors are `(B, C, T, H, W)`; the model keeps them in `channels_last_3d` memory, which
the convolutions and the per-frame GroupNorm below run fastest on (CPU and GPU alike).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, reduce, repeat
from torch import Tensor, nn


def channels_last(x: Tensor) -> Tensor:
    """`x` in `channels_last_3d` memory (a no-op when it already is)."""
    return x.contiguous(memory_format=torch.channels_last_3d)


def convolve(conv: nn.Conv3d, x: Tensor) -> Tensor:
    """`conv(x)`, through oneDNN for float32 inference on CPU.

    PyTorch sends small-batch float32 3D convolutions on CPU to its native kernel (its
    heuristic favours it below batch 2 and about 20k input rows), which is 2-7× slower than
    oneDNN for this autoencoder's layers at batch 1 (one thread, 32 channels at 11×34×34:
    16.9 ms against 2.6 ms). Training keeps PyTorch's own choice (and its backward).
    """
    if (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
    ):
        return torch.ops.aten.mkldnn_convolution(
            x, conv.weight, conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups
        )
    return conv(x)


class CausalConv3d(nn.Module):
    """3D convolution that pads time on the left only, by repeating the first frame.

    Padding `kernel_t - 1` copies of frame 0 lets a one-frame input through and keeps every
    output frame blind to later inputs. Height and width are zero-padded symmetrically.
    With `kernel_t = 2, stride_t = 2` this is the causal temporal halving: frame 0 is paired
    with its own copy, then frames (1, 2), (3, 4), ... are combined, so 1 + 2m -> 1 + m.

    Streaming (`set_streaming(True)`, stride 1 in time only): consecutive calls take
    consecutive chunks of one video, and each chunk is padded with the last `kernel_t - 1`
    input frames of the call before instead of copies of its own first frame, so the chunks'
    outputs are the whole video's output cut into pieces.
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
        self.stride_t = stride[0]
        self.streaming = False
        self.carry: Tensor | None = None  # streaming: the previous chunk's last input frames
        self.conv = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(0, kernel_h // 2, kernel_w // 2),
        )

    def set_streaming(self, on: bool) -> None:
        """Start (or stop) treating calls as consecutive chunks of one video."""
        if on and self.stride_t != 1:
            raise ValueError("a time-strided causal convolution cannot stream chunks")
        self.streaming, self.carry = on, None

    def forward(self, x: Tensor) -> Tensor:
        if self.time_pad:
            if self.carry is not None:
                # (B, C, time_pad, H, W) + (B, C, T, H, W) -> (B, C, time_pad + T, H, W)
                x = torch.cat([self.carry, x], dim=2)
            else:
                # (B, C, T, H, W) -> (B, C, time_pad + T, H, W), the new frames copies of frame 0
                x = F.pad(x, (0, 0, 0, 0, self.time_pad, 0), mode="replicate")
            if self.streaming:  # a copy: a view would keep this chunk's whole input alive
                self.carry = x[:, :, -self.time_pad :].clone()
        return convolve(self.conv, x)


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


def fold_into_channels(x: Tensor, space: bool, time: bool) -> Tensor:
    """Pixel-unshuffle in space and/or causal time, the parameter-free twin of `Downsample`.

    Time pairs frames as the strided causal conv does: frame 0 with a copy of itself, then
    (1, 2), (3, 4), ... So (B, C, 1 + 2m, H, W) -> (B, C·8, 1 + m, H/2, W/2) with both.
    """
    pt, ps = (2 if time else 1), (2 if space else 1)
    if time:
        # (B, C, 1 + 2m, H, W) -> (B, C, 2 + 2m, H, W), frame 0 doubled
        x = F.pad(x, (0, 0, 0, 0, 1, 0), mode="replicate")
    # (B, C, pt·t, ps·h, ps·w) -> (B, C·pt·ps·ps, t, h, w)
    return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (c pt ph pw) t h w", pt=pt, ph=ps, pw=ps)


def unfold_from_channels(x: Tensor, space: bool, time: bool, starts_video: bool = True) -> Tensor:
    """Inverse of `fold_into_channels`: (B, C·8, 1 + m, h, w) -> (B, C, 1 + 2m, 2h, 2w).

    `starts_video=False` (a later chunk of a streamed video, which has no frame 0):
    (B, C·8, m, h, w) -> (B, C, 2m, 2h, 2w).
    """
    pt, ps = (2 if time else 1), (2 if space else 1)
    # (B, C·pt·ps·ps, t, h, w) -> (B, C, pt·t, ps·h, ps·w)
    x = rearrange(x, "b (c pt ph pw) t h w -> b c (t pt) (h ph) (w pw)", pt=pt, ph=ps, pw=ps)
    return x[:, :, 1:] if time and starts_video else x  # frame 0's first copy dropped


class Downsample(nn.Module):
    """Halves height and width and/or time (causally), changing the width.

    A strided conv plus a parameter-free shortcut: the input folded into channels and
    averaged in groups down to the output width (DC-AE's residual autoencoding), so the
    conv only refines an already-downsampled signal.
    """

    def __init__(self, in_channels: int, out_channels: int, space: bool, time: bool) -> None:
        super().__init__()
        self.space, self.time = space, time
        folded = in_channels * (2 if time else 1) * (4 if space else 1)
        if folded % out_channels:
            raise ValueError(f"cannot average {folded} folded channels into {out_channels}")
        self.out_channels = out_channels
        kernel = (2 if time else 1, 3, 3)
        stride = (2 if time else 1, 2 if space else 1, 2 if space else 1)
        self.conv = CausalConv3d(in_channels, out_channels, kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = fold_into_channels(x, self.space, self.time)
        # (B, out·g, t, h, w) -> (B, out, t, h, w), the mean of each group of g channels
        shortcut = reduce(shortcut, "b (c g) t h w -> b c t h w", "mean", c=self.out_channels)
        return self.conv(x) + channels_last(shortcut)


class Upsample(nn.Module):
    """The mirror of `Downsample`: doubles height and width and/or time, changing width.

    Time: a causal conv predicts two frames per input frame, which are unfolded in order;
    the first frame's first copy is dropped, so 1 + m frames become 1 + 2m, frame 0 stays
    alone and input frame j >= 1 only reaches output frames >= 2j - 1. Space: a 3×3 conv
    changes the width, then nearest-neighbour doubling (convolving first costs a quarter of
    double-then-convolve and trained as well in short runs). The shortcut mirrors
    `Downsample`'s: channels repeated, then unfolded into space and time.
    """

    def __init__(self, in_channels: int, out_channels: int, space: bool, time: bool) -> None:
        super().__init__()
        self.space, self.time = space, time
        unfolded = out_channels * (2 if time else 1) * (4 if space else 1)
        if unfolded % in_channels:
            raise ValueError(f"cannot repeat {in_channels} channels into {unfolded}")
        self.repeats = unfolded // in_channels
        self.time_conv = CausalConv3d(in_channels, 2 * in_channels, (3, 1, 1)) if time else None
        self.conv = CausalConv3d(in_channels, out_channels, (1, 3, 3))
        self.streaming = False
        self.started = False  # streaming: frame 0 was in an earlier chunk

    def set_streaming(self, on: bool) -> None:
        """Start (or stop) treating calls as consecutive chunks of one video."""
        self.streaming, self.started = on, False

    def forward(self, x: Tensor) -> Tensor:
        starts_video = not self.started
        self.started = self.streaming
        # (B, C, t, h, w) -> (B, C·r, t, h, w), each channel repeated r times in a row
        shortcut = repeat(x, "b c t h w -> b (c r) t h w", r=self.repeats)
        shortcut = unfold_from_channels(shortcut, self.space, self.time, starts_video)
        if self.time_conv is not None:
            x = unfold_from_channels(
                self.time_conv(x), space=False, time=True, starts_video=starts_video
            )
        x = self.conv(channels_last(x))
        if self.space:
            x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return x + channels_last(shortcut)
