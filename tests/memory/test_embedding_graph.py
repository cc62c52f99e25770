"""The ONNX graph that runs all-MiniLM-L6-v2 (embed/graph.py) against a textbook forward pass
written here in plain numpy from the same safetensors: the float graph gives the same vectors,
so nothing the guard's classifier learned from depends on which runtime made them; the int8
graph (recall's queries) stays within a cosine of 0.98 of them."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

from personae.embed.minilm import load_minilm, model_dir

Array = npt.NDArray[np.float32]
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _norm(x: Array, w: dict[str, Array], name: str) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w[name + ".weight"] + w[name + ".bias"]


def _linear(x: Array, w: dict[str, Array], name: str) -> Array:
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def textbook_embedding(ids: list[int], w: dict[str, Array]) -> Array:
    """BERT as the paper draws it, one text, no batching: mean-pooled, unit length."""
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _norm(x, w, "embeddings.LayerNorm")
    for i in range(6):
        p = f"encoder.layer.{i}."
        heads = []
        for h in range(12):
            cols = slice(h * 32, (h + 1) * 32)
            q = _linear(x, w, p + "attention.self.query")[:, cols]
            k = _linear(x, w, p + "attention.self.key")[:, cols]
            v = _linear(x, w, p + "attention.self.value")[:, cols]
            scores = q @ k.T / math.sqrt(32)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            heads.append(weights / weights.sum(-1, keepdims=True) @ v)
        attended = _linear(np.concatenate(heads, axis=1), w, p + "attention.output.dense")
        x = _norm(attended + x, w, p + "attention.output.LayerNorm")
        hidden = _linear(x, w, p + "intermediate.dense")
        hidden = hidden * 0.5 * (1.0 + _erf(hidden / math.sqrt(2.0)))
        x = _norm(_linear(hidden, w, p + "output.dense") + x, w, p + "output.LayerNorm")
    pooled = x.mean(0)
    return (pooled / np.linalg.norm(pooled)).astype(np.float32)


def test_the_graph_gives_the_textbook_forward_pass_vectors() -> None:
    model = load_minilm()
    weights = load_file(str(model_dir() / "model.safetensors"))
    texts = [
        "Hi!",
        "I moved to Lisbon last spring with my sister.",
        "Ana: We went hiking on Sunday and saw a heron by the lake near the old mill.",
    ]
    got = model.embed(texts)  # one batch: the short texts are padded to the longest
    for row, text in enumerate(texts):
        ids = model._tokenizer.encode(text).ids
        expected = textbook_embedding(ids, weights)
        assert float(got[row] @ expected) > 0.99999, text
        assert np.abs(got[row] - expected).max() < 1e-4, text
    assert abs(float(np.linalg.norm(got[1])) - 1.0) < 1e-5


def test_related_sentences_are_nearer_than_unrelated_ones() -> None:
    a, b, c = load_minilm().embed(
        ["My sister lives in Lisbon.", "Where does my sister live?", "Preheat the oven to 200C."]
    )
    assert float(a @ b) > 0.5 > float(a @ c)


def test_the_int8_graph_stays_near_the_float_vectors_and_their_neighbours() -> None:
    texts = [
        "Hi!",
        "I moved to Lisbon last spring with my sister.",
        "Ana: We went hiking on Sunday and saw a heron by the lake near the old mill.",
        "Where does my sister live?",
        "Preheat the oven to 200C and bake the bread for forty minutes.",
        "My grandmother taught me to knit when I was seven.",
    ]
    exact = load_minilm(int8=False).embed(texts)
    quick = load_minilm(int8=True)
    fast = np.concatenate([quick.embed([t]) for t in texts])  # a query: alone in its pass
    assert load_minilm() is load_minilm(int8=False), "the float model is the default"
    closeness = (exact * fast).sum(axis=1)
    assert closeness.min() > 0.98, closeness
    assert not np.array_equal(exact, fast), "the int8 graph is in use"
    # What retrieval needs: a question finds the line it asks about under both.
    for vectors in (exact, fast):
        np.fill_diagonal(similar := vectors @ vectors.T, -1.0)
        assert similar[3].argmax() == 1  # the sister question finds the sister line
