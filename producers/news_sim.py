"""Templated headlines for the simulator, in three tones, about the company behind a symbol."""

from __future__ import annotations

import random

COMPANIES = {
    "AAPL": "Apple", "MSFT": "Microsoft", "GOOG": "Alphabet", "GOOGL": "Alphabet",
    "AMZN": "Amazon", "SPY": "S&P 500 ETF", "META": "Meta", "FB": "Facebook", "TSLA": "Tesla",
    "NVDA": "Nvidia", "IBM": "IBM", "BAC": "Bank of America", "AIG": "AIG", "INTC": "Intel",
}

POSITIVE = (
    ("{co} beats quarterly estimates as revenue rises {pct}%",
     "Earnings per share came in above the analyst consensus; {co} also raised its outlook."),
    ("{co} raises full-year guidance on strong demand",
     "Management now expects sales growth of {pct}% for the year."),
    ("{broker} upgrades {co} to Buy, lifts price target",
     "The analyst cites improving margins and order growth."),
    ("{co} operating profit rose to ${b} bn from ${a} bn",
     "Net sales increased {pct}% year on year."),
    ("{co} wins major contract, shares jump",
     "The multi-year deal is expected to add to revenue from next quarter."),
)
NEGATIVE = (
    ("{co} misses estimates as sales fall {pct}%",
     "Revenue came in below expectations and the company cut its forecast."),
    ("{co} issues profit warning, cuts outlook",
     "Weaker demand and rising costs will weigh on results, the company said."),
    ("{broker} downgrades {co} to Sell",
     "The analyst expects margins to shrink as competition intensifies."),
    ("{co} net profit fell to ${a} bn from ${b} bn",
     "Operating costs increased {pct}% over the period."),
    ("Regulators open probe into {co}; shares slide",
     "The investigation could lead to fines, according to people familiar with the matter."),
)
NEUTRAL = (
    ("{co} to present at {conf} conference next week", ""),
    ("{co} schedules quarterly earnings call", "The call will be webcast on the company's site."),
    ("{co} announces annual shareholder meeting date", ""),
    ("{co} names new head of investor relations", ""),
)
BROKERS = ("Morgan Stanley", "Goldman Sachs", "JPMorgan", "Barclays", "UBS", "Jefferies")
CONFERENCES = ("technology", "consumer", "healthcare", "industrials", "financials")


def headline_for(symbol: str, tone: int, rng: random.Random) -> tuple[str, str]:
    """A (headline, summary) pair of the given tone: +1 positive, -1 negative, 0 neutral."""
    templates = POSITIVE if tone > 0 else NEGATIVE if tone < 0 else NEUTRAL
    headline, summary = rng.choice(templates)
    a = round(rng.uniform(1, 9), 1)
    values = {
        "co": COMPANIES.get(symbol, symbol), "pct": rng.randint(3, 25),
        "broker": rng.choice(BROKERS), "conf": rng.choice(CONFERENCES),
        "a": a, "b": round(a * rng.uniform(1.1, 1.6), 1),
    }
    return headline.format(**values), summary.format(**values)
