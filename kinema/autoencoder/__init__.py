"""Causal 3D convolutional video VAE: pixels (B, 3, 1 + 4k, H, W) <-> latent (B, C, 1 + k, h, w)."""

from kinema.autoencoder.losses import (
    autoencoder_loss,
    foreground_weights,
    kl_to_standard_normal,
    psnr,
)
from kinema.autoencoder.model import (
    AutoencoderOutput,
    VideoAutoencoder,
    sample_latent,
    stage_plan,
)

__all__ = [
    "AutoencoderOutput",
    "VideoAutoencoder",
    "autoencoder_loss",
    "foreground_weights",
    "kl_to_standard_normal",
    "psnr",
    "sample_latent",
    "stage_plan",
]
