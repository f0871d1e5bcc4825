"""Data: video files (PyAV), datasets and caches."""
