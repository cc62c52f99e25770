"""Train the embedded guard's classifier and write it into the package.

What it trains on (nothing else; no evaluation set — XSTest, SimpleSafetyTests,
JailbreakBench, AdvBench, Tensor Trust — is read):
  harmful classes   HarmBench text behaviours (MIT; ``harmbench_behaviors_text_all.csv``,
                    the ``Behavior`` column, SemanticCategory mapped to an S-code) and
                    ``bench/guard_data/harmful.tsv`` (written for this project)
  prompt injection  BIPIA attack texts (MIT; ``text_attack_train.json``,
                    ``code_attack_train.json``) and ``bench/guard_data/injection.tsv``
  benign            PersonaGym questions (MIT; every file of ``questions/benchmark-v1``),
                    InCharacter questionnaire statements (MIT), BIPIA email questions (MIT)
                    and ``bench/guard_data/benign.tsv`` (written for this project)

Model: multinomial logistic regression (numpy, full-batch Adam, class-balanced, L2) over
hashed word 1-2-grams and character 3-5-grams (``personae.guards.features``). A seeded 20 %
split of the training data picks the thresholds: the harm threshold is the lowest that keeps
false alarms on held-out benign text at or under 2 %.

    .venv/bin/python bench/train_guard.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import random
from pathlib import Path

import numpy as np

from personae.guards.features import DIMENSIONS, featurise

ROOT = Path(__file__).resolve().parent
OUT = ROOT.parent / "src" / "personae" / "guards" / "data" / "classifier.npz"
HARMBENCH_CODES = {
    "chemical_biological": "S9",
    "cybercrime_intrusion": "S2",
    "illegal": "S2",
    "misinformation_disinformation": "S13",
    "harassment_bullying": "S10",
    "harmful": "S1",
    "copyright": "S8",
}
CLASSES = (
    "benign",
    "PI",
    "S1",
    "S2",
    "S3",
    "S4",
    "S5",
    "S7",
    "S8",
    "S9",
    "S10",
    "S11",
    "S12",
    "S13",
)
BENIGN_FPR = 0.02


def _tsv(name: str) -> list[tuple[str, str]]:
    rows = []
    for line in (ROOT / "guard_data" / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(tuple(line.split("\t", 1)) if "\t" in line else ("", line))
    return rows  # type: ignore[return-value]


def load(data: Path, personagym_limit: int) -> list[tuple[str, str]]:
    samples: list[tuple[str, str]] = []
    with (data / "harmbench" / "harmbench_behaviors_text_all.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            samples.append((HARMBENCH_CODES[row["SemanticCategory"]], row["Behavior"]))
    samples += [(code, text) for code, text in _tsv("harmful.tsv")]
    for name in ("text_attack_train.json", "code_attack_train.json"):
        attacks = json.loads((data / "bipia" / name).read_text(encoding="utf-8"))
        samples += [("PI", t) for group in attacks.values() for t in group]
    samples += [("PI", text) for _, text in _tsv("injection.tsv")]
    benign: list[str] = []
    for path in sorted(glob.glob(str(data / "personagym" / "questions" / "benchmark-v1" / "*"))):
        questions = json.loads(Path(path).read_text(encoding="utf-8"))
        benign += [q for group in questions.values() for q in group]
    random.Random(7).shuffle(benign)
    benign = benign[:personagym_limit]
    for path in sorted(glob.glob(str(data / "incharacter" / "questionnaires" / "*.json"))):
        questionnaire = json.loads(Path(path).read_text(encoding="utf-8"))
        for item in questionnaire.get("questions", {}).values():
            for key in ("origin_en", "rewritten_en"):
                text = item.get(key) if isinstance(item, dict) else None
                if isinstance(text, str):
                    benign.append(text)
    with (data / "bipia" / "email" / "train.jsonl").open(encoding="utf-8") as f:
        for line in f:
            question = json.loads(line)["question"].removeprefix("Q: ")
            benign.append(question)
    handwritten = [text for _, text in _tsv("benign.tsv")] + chit_chat()
    # The handwritten look-alikes are few: repeat them so they weigh as much as they matter.
    samples += [("benign", t) for t in benign + handwritten * 4]
    return samples


def chit_chat() -> list[str]:
    """Short everyday messages built from word lists written for this project: the public
    benign sets are long questions, and a model trained on them alone flags "hi"."""
    openers = ["hi", "hey", "ok", "thanks", "sure", "well", "so", "hmm", "great", "sorry"]
    middles = ["how are you", "what's new", "tell me more", "that's nice", "I see",
               "good idea", "not bad", "let's go", "me too", "got it", "one sec",
               "message 2", "part 3", "step 4", "question 5"]  # fmt: skip
    enders = ["", "!", "?", " :)", " lol", "..."]
    rng = random.Random(3)
    return [f"{rng.choice(openers)} {m}{rng.choice(enders)}" for m in middles for _ in range(6)]


def sparse(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        for k, v in featurise(text).items():
            rows.append(i)
            cols.append(k)
            vals.append(v)
    return np.array(rows), np.array(cols), np.array(vals, dtype=np.float32)


def train(
    texts: list[str], labels: np.ndarray, epochs: int, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    rows, cols, vals = sparse(texts)
    n, c = len(texts), len(CLASSES)
    counts = np.bincount(labels, minlength=c).astype(np.float32)
    class_weight = counts.sum() / (c * np.maximum(counts, 1.0))
    sample_weight = class_weight[labels]
    w = np.zeros((DIMENSIONS, c), dtype=np.float32)
    b = np.zeros(c, dtype=np.float32)
    onehot = np.eye(c, dtype=np.float32)[labels]
    m_w, v_w, m_b, v_b = (np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b))
    lr, beta1, beta2 = 0.05, 0.9, 0.999
    for step in range(1, epochs + 1):
        logits = np.zeros((n, c), dtype=np.float32)
        np.add.at(logits, rows, vals[:, None] * w[cols])
        logits += b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        err = (p - onehot) * sample_weight[:, None] / sample_weight.sum()
        grad_w = np.zeros_like(w)
        np.add.at(grad_w, cols, vals[:, None] * err[rows])
        grad_w += l2 * w
        grad_b = err.sum(axis=0)
        for param, grad, m, v in ((w, grad_w, m_w, v_w), (b, grad_b, m_b, v_b)):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + 1e-8)
    return w, b


def predict(w: np.ndarray, b: np.ndarray, texts: list[str]) -> np.ndarray:
    out = []
    for text in texts:
        f = featurise(text)
        logits = np.array(list(f.values()), dtype=np.float32) @ w[list(f.keys())] + b
        e = np.exp(logits - logits.max())
        out.append(e / e.sum())
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--l2", type=float, default=1e-5)
    parser.add_argument("--personagym", type=int, default=4000, help="benign questions used")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    samples = load(args.data, args.personagym)
    random.Random(13).shuffle(samples)
    split = int(len(samples) * 0.8)
    index = {c: i for i, c in enumerate(CLASSES)}
    fit, held = samples[:split], samples[split:]
    w, b = train([t for _, t in fit], np.array([index[c] for c, _ in fit]), args.epochs, args.l2)
    probs = predict(w, b, [t for _, t in held])
    held_labels = np.array([index[c] for c, _ in held])
    harm = 1.0 - probs[:, 0] - probs[:, 1]
    benign_scores = np.sort(harm[held_labels == 0])
    harm_threshold = float(benign_scores[int(len(benign_scores) * (1 - BENIGN_FPR))])
    injection_scores = np.sort(probs[held_labels == 0, 1])
    injection_threshold = float(max(injection_scores[int(len(injection_scores) * 0.99)], 0.5))
    is_harm = held_labels >= 2
    recall = float((harm[is_harm] >= harm_threshold).mean())
    fpr = float((harm[held_labels == 0] >= harm_threshold).mean())
    pi_recall = float((probs[held_labels == 1, 1] >= injection_threshold).mean())
    print(f"samples {len(samples)} (train {len(fit)}, held out {len(held)})")
    print(
        f"harm threshold {harm_threshold:.3f}: held-out recall {recall:.3f}, benign FPR {fpr:.3f}"
    )
    print(f"injection threshold {injection_threshold:.3f}: held-out recall {pi_recall:.3f}")
    # The shipped model is refit on everything with the thresholds found above.
    w, b = train(
        [t for _, t in samples], np.array([index[c] for c, _ in samples]), args.epochs, args.l2
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        weights=w.astype(np.float16),
        bias=b.astype(np.float32),
        classes=np.array(CLASSES),
        threshold_names=np.array(["harm", "injection"]),
        threshold_values=np.array([harm_threshold, injection_threshold], dtype=np.float32),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
