"""Offline sentence embeddings: all-MiniLM-L6-v2 run by onnxruntime (no torch, no hub)."""

from personae.embed.minilm import DIM, MiniLM, load_minilm

__all__ = ["DIM", "MiniLM", "load_minilm"]
