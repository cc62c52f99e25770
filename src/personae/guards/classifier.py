"""The shipped safety classifier: a one-hidden-layer network over all-MiniLM-L6-v2 sentence
embeddings (the model the memory already loads), trained by ``bench/train_guard.py``.

Hashed n-grams alone (the previous model) learnt words, not requests: "kill a Python process"
and "kill my neighbour" shared their alarming features. The sentence embedding carries what
the words are about, so the classifier can tell a process from a person.

Weights live in ``guards/data/classifier.npz``; loading never unpickles anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from personae.errors import ConfigError

WEIGHTS_FILE = "classifier.npz"
DIM = 384  # all-MiniLM-L6-v2
Matrix = npt.NDArray[np.float32]
Embedder = Callable[[Sequence[str]], Matrix]


# The embedding model reads 256 word pieces, and a mean over a long text dilutes one bad
# sentence: a message longer than WHOLE_WORDS is also scored in pieces of whole sentences (at
# most PIECE_WORDS words each), so a request at the end of a long harmless text is still read.
# At most MAX_PIECES pieces (the head's and the tail's when more) bound a huge message's cost.
WHOLE_WORDS = 80
PIECE_WORDS = 30
MAX_PIECES = 8
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def windows(text: str) -> list[str]:
    """The texts the classifier scores for ``text``: itself, and its pieces when long."""
    if len(text.split()) <= WHOLE_WORDS:
        return [text]
    pieces: list[list[str]] = [[]]
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        while words:
            room = PIECE_WORDS - len(pieces[-1])
            if room <= 0 or (pieces[-1] and len(words) > room and len(words) <= PIECE_WORDS):
                pieces.append([])
                continue
            pieces[-1] += words[:room]
            words = words[room:]
    if len(pieces) > MAX_PIECES:
        half = MAX_PIECES // 2
        pieces = pieces[:half] + pieces[-half:]
    return [text] + [" ".join(p) for p in pieces if p]


@dataclass(frozen=True)
class Scores:
    """Class probabilities; ``harm`` is 1 - P(benign) - P(injection), ``injection``
    P(prompt injection)."""

    probabilities: dict[str, float]

    @property
    def harm(self) -> float:
        return sum(p for c, p in self.probabilities.items() if c not in ("benign", "PI"))

    @property
    def injection(self) -> float:
        return self.probabilities.get("PI", 0.0)

    def top_hazard(self) -> str | None:
        hazards = {c: p for c, p in self.probabilities.items() if c not in ("benign", "PI")}
        return max(hazards, key=lambda c: hazards[c]) if hazards else None


def forward(layers: Sequence[Matrix], x: Matrix) -> Matrix:
    """Class probabilities for embeddings ``x`` (rows): ReLU hidden layer, softmax out."""
    w1, b1, w2, b2 = layers
    hidden = np.maximum(x @ w1 + b1, 0.0)
    logits = hidden @ w2 + b2
    logits = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits)
    out: Matrix = (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


class Classifier:
    """CPU-bound (one sentence embedding a call): guards call it off the event loop."""

    def __init__(
        self,
        layers: Sequence[Matrix],
        classes: tuple[str, ...],
        thresholds: dict[str, float],
        embed: Embedder | None = None,
    ) -> None:
        if layers[0].shape[0] != DIM or layers[2].shape[1] != len(classes):
            raise ConfigError(
                f"guard classifier weights have shapes {[a.shape for a in layers]}, expected "
                f"({DIM}, h) … (h, {len(classes)}); retrain with bench/train_guard.py"
            )
        self._layers = tuple(layers)
        self._embed = embed
        self.classes = classes
        self.thresholds = thresholds
        self._cached = lru_cache(maxsize=512)(self._scores)

    def threshold(self, hazard: str) -> float:
        """The harm score a message needs to be stopped as ``hazard`` (per category, chosen on
        the development split; the global one where a category has none)."""
        return self.thresholds.get(f"harm:{hazard}", self.thresholds.get("harm", 0.5))

    def scores(self, text: str) -> Scores:
        """Cached: the output check asks again about the message the input check scored."""
        return self._cached(text)

    def _scores(self, text: str) -> Scores:
        if self._embed is None:
            from personae.embed import load_minilm  # loaded once per process, on first use

            self._embed = lambda texts: load_minilm().embed(texts)
        texts = windows(text)
        # The whole text and its short pieces apart: one batch pads every row to the longest.
        vectors = self._embed(texts[:1])
        if len(texts) > 1:
            vectors = np.concatenate([vectors, self._embed(texts[1:])])
        rows = forward(self._layers, vectors)
        # The most alarming window speaks for the message: harm and injection are scored
        # where they are, not averaged into a long harmless text.
        harm = 1.0 - rows[:, 0] - rows[:, 1]
        worst = rows[int(np.argmax(np.maximum(harm, rows[:, 1])))]
        return Scores({c: float(p) for c, p in zip(self.classes, worst, strict=True)})


@cache
def shipped() -> Classifier:
    """The classifier in the package data."""
    path = resources.files("personae.guards") / "data" / WEIGHTS_FILE
    with resources.as_file(path) as real:
        return load(real)


def load(path: Path, embed: Embedder | None = None) -> Classifier:
    """A classifier written by ``bench/train_guard.py``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            layers = [data[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2")]
            classes = tuple(str(c) for c in data["classes"])
            names = [str(n) for n in data["threshold_names"]]
            values = [float(v) for v in data["threshold_values"]]
    except (OSError, KeyError, ValueError) as err:
        raise ConfigError(
            f"guard classifier {str(path)!r} cannot be read ({err}); retrain it with "
            "bench/train_guard.py"
        ) from None
    return Classifier(layers, classes, dict(zip(names, values, strict=True)), embed)
