"""Sentiment engine for financial news (issue #5).

`score(text, scorer="finance") -> Sentiment(score, label)`; scorers: "finance" (default:
VADER plus finance-domain rules) and "vader" (plain VADER, the baseline).
"""

from .scorers import (
    DEFAULT_SCORER,
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    SCORERS,
    Sentiment,
    get_scorer,
    label_for,
    score,
)

__all__ = [
    "DEFAULT_SCORER",
    "NEGATIVE_THRESHOLD",
    "POSITIVE_THRESHOLD",
    "SCORERS",
    "Sentiment",
    "get_scorer",
    "label_for",
    "score",
]
