"""PhraseBank parsing and the metrics behind --eval."""

from __future__ import annotations

import pytest

from tradeflow.sentiment.evaluate import metrics, parse_phrasebank


def test_parse_keeps_good_lines_and_counts_bad_ones() -> None:
    ds = parse_phrasebank([
        "Sales rose @ strongly .@positive\n",   # '@' inside the sentence: split on the last one
        "No label here\n",
        "Text@maybe\n",
        "\n",
        "Costs fell .@ Negative \n",
    ])
    assert [(e.text, e.label) for e in ds.examples] == [
        ("Sales rose @ strongly .", "positive"), ("Costs fell .", "negative")]
    assert ds.malformed == 2


def test_metrics_accuracy_macro_f1_and_confusion() -> None:
    pairs = [("positive", "positive"), ("positive", "neutral"), ("negative", "negative"),
             ("neutral", "neutral"), ("neutral", "positive"), ("neutral", "neutral")]
    r = metrics(pairs)
    assert r.n == 6
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.confusion["positive"]["neutral"] == 1
    assert r.confusion["neutral"]["positive"] == 1
    # F1: negative 1.0; neutral p=2/3 r=2/3; positive p=1/2 r=1/2
    assert r.f1["negative"] == pytest.approx(1.0)
    assert r.f1["neutral"] == pytest.approx(2 / 3)
    assert r.f1["positive"] == pytest.approx(0.5)
    assert r.macro_f1 == pytest.approx((1.0 + 2 / 3 + 0.5) / 3)


def test_metrics_on_nothing_do_not_divide_by_zero() -> None:
    r = metrics([])
    assert (r.n, r.accuracy, r.macro_f1) == (0, 0.0, 0.0)
