"""Kinema: Sora-style text-to-video on a procedural world, from two CPU cores to a GPU cluster."""

__version__ = "0.1.0"
