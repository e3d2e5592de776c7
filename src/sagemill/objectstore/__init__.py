"""Blobs for data, artifacts and checkpoints: the ObjectStore port and its adapters."""
