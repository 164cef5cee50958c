"""Accuracy floors on the development portion of Financial PhraseBank (read in place from
<repo>/../shared/data; skipped when it is absent, never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeflow.sentiment import get_scorer
from tradeflow.sentiment.evaluate import evaluate, read_phrasebank

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
PHRASEBANK = SHARED_DATA / "financial-phrasebank"

FLOORS = {"Sentences_AllAgree.txt": 0.85, "Sentences_50Agree.txt": 0.75}


@pytest.mark.shared_data
@pytest.mark.parametrize("name, floor", sorted(FLOORS.items()))
def test_finance_scorer_accuracy_floor(name: str, floor: float) -> None:
    path = PHRASEBANK / name
    if not path.is_file():
        pytest.skip(f"PhraseBank not available: {path} is absent (shared data folder "
                    f"{SHARED_DATA.resolve()} not mounted)")
    dataset = read_phrasebank(path)
    assert dataset.malformed == 0
    finance = evaluate(dataset, get_scorer("finance"))
    vader = evaluate(dataset, get_scorer("vader"))
    assert finance.accuracy >= floor, f"finance accuracy {finance.accuracy:.4f} < {floor}"
    # the domain rules must beat both the baseline and always answering "neutral"
    majority = sum(e.label == "neutral" for e in dataset.examples) / len(dataset.examples)
    assert finance.accuracy > max(vader.accuracy, majority)
    assert finance.macro_f1 > vader.macro_f1
