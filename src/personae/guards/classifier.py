"""The shipped safety classifier: multinomial logistic regression over hashed n-grams.

Weights live in ``guards/data/classifier.npz`` (trained by ``bench/train_guard.py``, which
says what it was trained on); loading never unpickles anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from personae.errors import ConfigError
from personae.guards.features import DIMENSIONS, featurise

WEIGHTS_FILE = "classifier.npz"


@dataclass(frozen=True)
class Scores:
    """Class probabilities; ``harm`` is 1 - P(benign) over the harm classes, ``injection``
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


class Classifier:
    def __init__(
        self,
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        classes: tuple[str, ...],
        thresholds: dict[str, float],
    ) -> None:
        if weights.shape != (DIMENSIONS, len(classes)):
            raise ConfigError(
                f"guard classifier weights have shape {weights.shape}, expected "
                f"({DIMENSIONS}, {len(classes)}); retrain with bench/train_guard.py"
            )
        self._w = weights
        self._b = bias
        self.classes = classes
        self.thresholds = thresholds

    def scores(self, text: str) -> Scores:
        features = featurise(text)
        if features:
            index = np.fromiter(features.keys(), dtype=np.int64, count=len(features))
            values = np.fromiter(features.values(), dtype=np.float32, count=len(features))
            logits = values @ self._w[index] + self._b
        else:
            logits = self._b.copy()
        logits = logits - logits.max()
        exp = np.exp(logits)
        probs = exp / exp.sum()
        return Scores({c: float(p) for c, p in zip(self.classes, probs, strict=True)})


@cache
def shipped() -> Classifier:
    """The classifier in the package data."""
    path = resources.files("personae.guards") / "data" / WEIGHTS_FILE
    with resources.as_file(path) as real, np.load(real, allow_pickle=False) as data:
        classes = tuple(str(c) for c in data["classes"])
        names = [str(n) for n in data["threshold_names"]]
        values = [float(v) for v in data["threshold_values"]]
        return Classifier(
            data["weights"].astype(np.float32),
            data["bias"].astype(np.float32),
            classes,
            dict(zip(names, values, strict=True)),
        )
