"""Financial PhraseBank reader and classification metrics.

PhraseBank files hold one `sentence@label` per line in ISO-8859-1. The files are not part of
the repository (their licence forbids redistribution); this module only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .scorers import Sentiment

# Order of rows and columns in the confusion matrix.
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
PHRASEBANK_ENCODING = "iso-8859-1"


@dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True)
class Dataset:
    path: Path
    examples: tuple[Example, ...]
    malformed: int  # non-blank lines without a `sentence@label` shape or with another label


def parse_phrasebank(lines: Iterable[str], path: Path = Path("-")) -> Dataset:
    examples: list[Example] = []
    malformed = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        text, sep, label = line.rpartition("@")
        label = label.strip().lower()
        if not sep or not text.strip() or label not in LABELS:
            malformed += 1
            continue
        examples.append(Example(text.strip(), label))
    return Dataset(path, tuple(examples), malformed)


def read_phrasebank(path: str | Path) -> Dataset:
    """Read a PhraseBank file; bad lines are counted in `malformed`, never raised."""
    p = Path(path)
    with p.open(encoding=PHRASEBANK_ENCODING, errors="replace") as fh:
        return parse_phrasebank(fh, p)


@dataclass(frozen=True)
class Report:
    n: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]
    # confusion[true][predicted] = count
    confusion: dict[str, dict[str, int]] = field(repr=False)


def metrics(pairs: Iterable[tuple[str, str]]) -> Report:
    """Accuracy, macro-F1 and confusion matrix from (true, predicted) label pairs."""
    confusion = {t: {p: 0 for p in LABELS} for t in LABELS}
    n = 0
    for true, pred in pairs:
        confusion[true][pred] += 1
        n += 1
    correct = sum(confusion[label][label] for label in LABELS)
    f1: dict[str, float] = {}
    for label in LABELS:
        tp = confusion[label][label]
        predicted = sum(confusion[t][label] for t in LABELS)
        actual = sum(confusion[label].values())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Report(n, correct / n if n else 0.0, sum(f1.values()) / len(LABELS), f1, confusion)


def evaluate(dataset: Dataset, scorer: Callable[[str], Sentiment]) -> Report:
    return metrics((ex.label, scorer(ex.text).label) for ex in dataset.examples)


def format_report(dataset: Dataset, scorer_name: str, report: Report) -> str:
    width = max(len(label) for label in LABELS) + 2
    lines = [
        f"{dataset.path.name}  scorer={scorer_name}  n={report.n}  malformed={dataset.malformed}",
        f"  accuracy {report.accuracy:.4f}   macro-F1 {report.macro_f1:.4f}   "
        + "  ".join(f"F1[{label}] {report.f1[label]:.3f}" for label in LABELS),
        "  confusion (rows = true, columns = predicted):",
        "  " + " " * width + "".join(f"{label:>{width}}" for label in LABELS),
    ]
    for true in LABELS:
        lines.append(f"  {true:<{width}}"
                     + "".join(f"{report.confusion[true][p]:>{width}}" for p in LABELS))
    return "\n".join(lines)
