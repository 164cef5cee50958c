"""The public API others call: score, get_scorer, Sentiment, thresholds."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

import tradeflow.sentiment as sentiment
from tradeflow.sentiment import Sentiment, get_scorer, score
from tradeflow.sentiment.scorers import NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD, label_for


def test_score_returns_a_sentiment_with_finance_by_default() -> None:
    result = score("Operating profit rose to EUR 9 mn from EUR 6 mn.")
    assert isinstance(result, Sentiment)
    assert result == get_scorer("finance")("Operating profit rose to EUR 9 mn from EUR 6 mn.")
    assert -1.0 <= result.score <= 1.0
    assert result.label == "positive"


def test_sentiment_is_immutable_and_has_named_fields() -> None:
    s = Sentiment(0.5, "positive")
    assert (s.score, s.label) == (0.5, "positive")
    with pytest.raises((AttributeError, dataclasses.FrozenInstanceError)):
        s.score = 0.1  # type: ignore[misc]


def test_vader_scorer_is_plain_vader() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    text = "Costs fell sharply, a great relief for the company."
    expected = SentimentIntensityAnalyzer().polarity_scores(text)["compound"]
    assert score(text, "vader").score == pytest.approx(expected, abs=1e-4)


def test_the_two_scorers_disagree_where_finance_knowledge_matters() -> None:
    text = "Costs decreased by 12 percent."
    assert score(text, "vader").label != "positive"
    assert score(text, "finance").label == "positive"


def test_unknown_scorer_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="finance.*vader"):
        get_scorer("finbert")
    with pytest.raises(ValueError):
        score("Sales rose.", scorer="nope")


@pytest.mark.parametrize("compound, expected", [
    (POSITIVE_THRESHOLD, "positive"), (0.9, "positive"),
    (NEGATIVE_THRESHOLD, "negative"), (-0.9, "negative"),
    (0.0, "neutral"), (POSITIVE_THRESHOLD - 1e-6, "neutral"),
    (NEGATIVE_THRESHOLD + 1e-6, "neutral"),
])
def test_labels_follow_the_documented_thresholds(compound: float, expected: str) -> None:
    assert label_for(compound) == expected


def test_thresholds_are_exported() -> None:
    assert sentiment.POSITIVE_THRESHOLD == 0.05
    assert sentiment.NEGATIVE_THRESHOLD == -0.05


@pytest.mark.parametrize("name", ["finance", "vader"])
def test_empty_and_missing_text_are_neutral(name: str) -> None:
    assert get_scorer(name)("") == Sentiment(0.0, "neutral")
    assert score(None, name) == Sentiment(0.0, "neutral")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["finance", "vader"])
def test_scorers_pickle_for_a_flink_udf_worker(name: str) -> None:
    fn = pickle.loads(pickle.dumps(get_scorer(name)))
    assert fn("Net sales declined 9 %.") == get_scorer(name)("Net sales declined 9 %.")
    result = pickle.loads(pickle.dumps(score("Sales rose.")))
    assert result == score("Sales rose.")


def test_scores_stay_in_range_on_extreme_text() -> None:
    text = " ".join(["Profit soared, sales surged and costs plunged."] * 20)
    assert score(text).score <= 1.0
    assert score("!!!!").label == "neutral"
