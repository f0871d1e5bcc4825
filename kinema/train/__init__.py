"""Two-stage training: the autoencoder, then the transformer on its frozen latents."""

from kinema.train.run import prepare_run, start_from_autoencoder, start_from_model, train

__all__ = ["prepare_run", "start_from_autoencoder", "start_from_model", "train"]
