"""Public API of the sentiment engine: named scorers that map a text to a `Sentiment`.

    from tradeflow.sentiment import score, get_scorer, Sentiment
    score("Operating profit rose to EUR 13.1 mn from EUR 8.7 mn")   # finance scorer
    vader = get_scorer("vader")                                      # plain VADER baseline

Scorers are plain module-level functions, so they pickle by reference into a PyFlink Python
UDF worker; the VADER analyzers they use are built on first call, once per process.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, NamedTuple

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from . import lexicon as lx
from .finance import analyse

# Label thresholds on the compound score: VADER's own published convention, kept for both
# scorers so their labels are comparable.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
DEFAULT_SCORER = "finance"
# Share of general-language sentiment (VADER on a finance-adjusted lexicon) in the finance
# score. Below 1 because financial news is written in a warm register that is not news
# ("a leading provider", "well positioned"); the domain rules carry the signal.
GENERAL_WEIGHT = 0.5
# General-language valence inside this band counts as register, not news: one mildly warm or
# cool word ("solid", "well", "challenge") does not make a sentence positive or negative.
GENERAL_DEAD_ZONE = 1.5
# VADER's normalisation constant: compound = x / sqrt(x^2 + alpha).
_ALPHA = 15.0


class Sentiment(NamedTuple):
    """Compound score in [-1, 1] and its label: "positive" | "negative" | "neutral"."""

    score: float
    label: str


Scorer = Callable[[str], Sentiment]


def label_for(compound: float) -> str:
    """The label of a compound score, from the module's thresholds."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def _sentiment(compound: float) -> Sentiment:
    compound = round(max(-1.0, min(1.0, compound)), 4)
    return Sentiment(compound, label_for(compound))


@lru_cache(maxsize=None)
def _plain_analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=None)
def _finance_analyzer() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    single_word_quantities = {k[0] for k in lx.QUANTITIES if len(k) == 1}
    # The rules decide these words in context; VADER scoring them alone would double count
    # or contradict ("costs fell" is not a fall in mood).
    silenced = (lx.VADER_NEUTRAL | lx.UP_WORDS | lx.DOWN_WORDS | single_word_quantities) \
        - lx.VADER_KEEPS
    lexicon = {w: v for w, v in analyzer.lexicon.items() if w not in silenced}
    lexicon.update(lx.VADER_ADDITIONS)
    analyzer.lexicon = lexicon
    return analyzer


def _to_valence(compound: float) -> float:
    """Inverse of VADER's normalisation: back to a sum of word valences."""
    c = max(-0.9999, min(0.9999, compound))
    return c * math.sqrt(_ALPHA / (1.0 - c * c))


def _to_compound(valence: float) -> float:
    return valence / math.sqrt(valence * valence + _ALPHA)


def vader(text: str) -> Sentiment:
    """Plain vaderSentiment 3.3.2: the general-language baseline."""
    if not text:
        return Sentiment(0.0, "neutral")
    return _sentiment(_plain_analyzer().polarity_scores(text)["compound"])


def finance(text: str) -> Sentiment:
    """VADER on a finance-adjusted lexicon plus the finance-domain rules of finance.py."""
    if not text:
        return Sentiment(0.0, "neutral")
    analysis = analyse(text)
    general = _to_valence(_finance_analyzer().polarity_scores(text)["compound"])
    general = math.copysign(max(0.0, abs(general) - GENERAL_DEAD_ZONE), general)
    # Boilerplate with no financial event is neutral however warmly it is worded.
    weight = 0.0 if analysis.boilerplate and not analysis.evidence else GENERAL_WEIGHT
    return _sentiment(_to_compound(analysis.valence + weight * general))


SCORERS: dict[str, Scorer] = {"finance": finance, "vader": vader}


def get_scorer(name: str = DEFAULT_SCORER) -> Scorer:
    """The scorer called `name`; ValueError naming the valid ones otherwise."""
    try:
        return SCORERS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(SCORERS))
        raise ValueError(f"unknown sentiment scorer {name!r}; valid scorers: {valid}") from None


def score(text: str, scorer: str = DEFAULT_SCORER) -> Sentiment:
    """Score one text (None or "" is neutral, so a NULL column never fails a UDF)."""
    return get_scorer(scorer)(text or "")
