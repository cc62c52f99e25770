"""Offline sentence embeddings: all-MiniLM-L6-v2 run by a numpy forward pass."""

from personae.embed.minilm import DIM, MiniLM, load_minilm

__all__ = ["DIM", "MiniLM", "load_minilm"]
