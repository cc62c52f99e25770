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

Also, all written for this project: ``guard_data/contrast.py`` (contrast pairs, id/token
noise, everyday asks), ``guard_data/lookalikes.py`` (games, sports, idioms, pests, fictional
people, invented groups, history, health) and ``guard_data/twins.py`` (harm in mild words,
street names of illegal goods, "should I" questions, acquaintances' records, roles denied to
groups, atrocities denied or praised, crimes in fiction, everyday persona chat).

Calibration: no threshold is below the highest score of P1's bench messages
(``_common.MESSAGES``, never trained on) plus a margin. ``bench/guard_eval.py`` then checks
held-out persona chat (``guard_data/everyday_heldout.py``, never read here).

Model: a one-hidden-layer softmax network (numpy, full-batch Adam, class-balanced, L2) over
all-MiniLM-L6-v2 sentence embeddings (``personae.embed``). The samples are shuffled with a
fixed seed and split 80/10/10: the network trains on the first 80 %, the thresholds (global
and per category) are chosen on the next 10 % (dev), and the last 10 % (test) is only
reported. The shipped weights are the ones trained on the 80 %.

Licences: HarmBench, BIPIA, PersonaGym and InCharacter are MIT, which allows shipping weights
derived from them; the hand-written files are the project's own.

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

from _common import MESSAGES
from guard_data import contrast, lookalikes, twins
from personae.embed import load_minilm
from personae.guards.classifier import forward

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
BENIGN_FPR = 0.01
EVERYDAY_MARGIN = 0.05


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
    samples += contrast.pairs() + [("benign", t) for t in contrast.noise(1500)]
    samples += contrast.everyday() * 2
    samples += lookalikes.pairs() + twins.pairs()
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


def embed_all(texts: list[str], cache: Path | None) -> dict[str, np.ndarray]:
    """all-MiniLM-L6-v2 embeddings of every distinct text (minutes on 2 cores); ``cache``
    keeps them between runs."""
    wanted = sorted(set(texts))
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            known = dict(zip(data["texts"].tolist(), data["emb"], strict=True))
    missing = [t for t in wanted if t not in known]
    if missing:
        print(f"embedding {len(missing)} texts", flush=True)
        known.update(zip(missing, load_minilm().embed(missing), strict=True))
        if cache is not None:
            keys = sorted(known)
            np.savez(cache, texts=np.array(keys), emb=np.stack([known[k] for k in keys]))
    return known


def train(
    x: np.ndarray, labels: np.ndarray, hidden: int, epochs: int, l2: float, seed: int = 0
) -> list[np.ndarray]:
    """Class-balanced softmax network, one ReLU layer, full-batch Adam."""
    rng = np.random.default_rng(seed)
    c = len(CLASSES)
    layers = [
        (rng.standard_normal((x.shape[1], hidden)) / np.sqrt(x.shape[1])).astype(np.float32),
        np.zeros(hidden, np.float32),
        (rng.standard_normal((hidden, c)) / np.sqrt(hidden)).astype(np.float32),
        np.zeros(c, np.float32),
    ]
    counts = np.bincount(labels, minlength=c).astype(np.float32)
    weight = (counts.sum() / (c * np.maximum(counts, 1.0)))[labels]
    weight /= weight.sum()
    onehot = np.eye(c, dtype=np.float32)[labels]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in layers]
    lr, beta1, beta2 = 3e-3, 0.9, 0.999
    for step in range(1, epochs + 1):
        w1, b1, w2, _ = layers
        h = np.maximum(x @ w1 + b1, 0.0)
        err = (forward(layers, x) - onehot) * weight[:, None]
        dh = (err @ w2.T) * (h > 0)
        grads = [x.T @ dh + l2 * w1, dh.sum(0), h.T @ err + l2 * w2, err.sum(0)]
        for param, grad, (m, v) in zip(layers, grads, moments, strict=True):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + 1e-8)
    return layers


def harm_of(probs: np.ndarray) -> np.ndarray:
    return 1.0 - probs[:, 0] - probs[:, 1]


def thresholds(probs: np.ndarray, labels: np.ndarray, everyday: np.ndarray) -> dict[str, float]:
    """Chosen on the development split only. Global: the lowest harm score that keeps false
    alarms on benign text at or under BENIGN_FPR. Per category: the lowest grid value at
    which that category's own false alarms stay within its share (at most 0.2 % of benign),
    never below the global one. Then a floor: no threshold sits within EVERYDAY_MARGIN of
    what P1's bench messages (``everyday``: their class probabilities; never trained on)
    score in that category, nor the injection one of their injection score, so no shipped
    model refuses one of them."""
    harm = harm_of(probs)
    benign = labels == 0
    ordered = np.sort(harm[benign])
    line = float(ordered[int(len(ordered) * (1 - BENIGN_FPR))])
    top = probs[:, 2:].argmax(axis=1) + 2
    everyday_harm, everyday_top = harm_of(everyday), everyday[:, 2:].argmax(axis=1) + 2
    chosen = {"harm": max(line, float(everyday_harm.max()) + EVERYDAY_MARGIN)}
    allowed = max(1, int(benign.sum() * 0.002))
    for index, code in enumerate(CLASSES[2:], start=2):
        mine = everyday_harm[everyday_top == index]
        floor = float(mine.max()) + EVERYDAY_MARGIN if len(mine) else 0.0
        for t in np.arange(line, 0.99, 0.01):
            if ((harm >= t) & benign & (top == index)).sum() <= allowed:
                chosen[f"harm:{code}"] = round(max(float(t), floor), 3)
                break
    # Injection phrasing is mostly caught by rules; the classifier only adds what it is sure of.
    pi = np.sort(probs[benign, 1])
    chosen["injection"] = float(
        max(pi[int(len(pi) * 0.998)], 0.8, everyday[:, 1].max() + EVERYDAY_MARGIN)
    )
    return chosen


def report(name: str, probs: np.ndarray, labels: np.ndarray, chosen: dict[str, float]) -> None:
    harm = harm_of(probs)
    top = [CLASSES[i] for i in probs[:, 2:].argmax(axis=1) + 2]
    need = np.array([chosen.get(f"harm:{c}", chosen["harm"]) for c in top])
    stopped = harm >= need
    print(
        f"{name}: {len(labels)} texts; harmful caught {stopped[labels >= 2].mean():.3f}, "
        f"benign stopped {stopped[labels == 0].mean():.3f}, injection caught "
        f"{(probs[labels == 1, 1] >= chosen['injection']).mean():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--personagym", type=int, default=4000, help="benign questions used")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (.npz)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    samples = load(args.data, args.personagym)
    random.Random(13).shuffle(samples)
    vectors = embed_all([t for _, t in samples], args.cache)
    index = {c: i for i, c in enumerate(CLASSES)}
    x = np.stack([vectors[t] for _, t in samples])
    y = np.array([index[c] for c, _ in samples])
    # 80 % train, 10 % development (thresholds), 10 % test (reported, never used to choose).
    a, b = int(len(samples) * 0.8), int(len(samples) * 0.9)
    layers = train(x[:a], y[:a], args.hidden, args.epochs, args.l2)
    everyday = forward(layers, np.asarray(load_minilm().embed(list(MESSAGES))))
    chosen = thresholds(forward(layers, x[a:b]), y[a:b], everyday)
    print(f"P1 bench messages: highest harm {harm_of(everyday).max():.3f}, "
          f"injection {everyday[:, 1].max():.3f}")  # fmt: skip
    print(f"samples {len(samples)} (train {a}, dev {b - a}, test {len(samples) - b})")
    print("thresholds " + ", ".join(f"{k} {v:.3f}" for k, v in chosen.items()))
    report("dev", forward(layers, x[a:b]), y[a:b], chosen)
    report("test", forward(layers, x[b:]), y[b:], chosen)
    # The shipped model is the one trained on the train split: the test figure is its own.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        w1=layers[0].astype(np.float16),
        b1=layers[1],
        w2=layers[2].astype(np.float16),
        b2=layers[3],
        classes=np.array(CLASSES),
        threshold_names=np.array(list(chosen)),
        threshold_values=np.array(list(chosen.values()), dtype=np.float32),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
