"""Python UDFs of the signal job. They run in Flink's Python workers, which import this module."""

from __future__ import annotations

from pyflink.table import DataTypes
from pyflink.table.udf import udf

from tradeflow.sentiment import score


@udf(result_type=DataTypes.DOUBLE())
def score_sentiment(headline: str | None, summary: str | None, scorer: str) -> float | None:
    """Sentiment of a story in [-1, 1] from its headline and summary (None when both are empty)."""
    text = " ".join(t for t in (headline, summary) if t)
    if not text:
        return None
    return score(text, scorer).score
