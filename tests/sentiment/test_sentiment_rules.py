"""Finance rules, on sentences written for these tests (none taken from PhraseBank)."""

from __future__ import annotations

import pytest

from tradeflow.sentiment import score
from tradeflow.sentiment.finance import analyse


def label(text: str) -> str:
    return score(text).label


def rules(text: str) -> set[str]:
    return {e.rule for e in analyse(text).evidence}


@pytest.mark.parametrize("text, expected, rule", [
    # direction x quantity: the quantity decides what a move means
    ("Quarterly profit rose to $4.2 billion.", "positive", "change"),
    ("Net income climbed 12 percent in the spring quarter.", "positive", "change"),
    ("Costs rose sharply in the third quarter.", "negative", "change"),
    ("Operating expenses increased by a fifth.", "negative", "change"),
    ("Costs fell 8 percent year over year.", "positive", "change"),
    ("The group managed to reduce its debt by a third.", "positive", "change"),
    ("Revenue declined for a second year.", "negative", "change"),
    ("Order intake dropped 14 % in the first half.", "negative", "change"),
    ("The retailer's net loss narrowed in the holiday quarter.", "positive", "change"),
    ("The airline's loss widened in the second quarter.", "negative", "change"),
    ("Gross margin widened to 41 percent.", "positive", "change"),
    ("Higher raw material costs weighed on the toolmaker.", "negative", "change"),
    ("Lower freight costs helped the quarter.", "positive", "change"),
    ("Rising orders kept the shipyard busy.", "positive", "change"),
    ("Falling subscriber numbers worry the cable operator.", "negative", "change"),
    # swings across zero
    ("The bakery chain swung to a net profit of EUR 3 mn from a net loss of EUR 1 mn.",
     "positive", "swing"),
    ("The insurer swung to a loss in the first half.", "negative", "swing"),
    ("The unit returned to profit after two difficult years.", "positive", "swing"),
    ("The operating loss was EUR 2 mn, against a profit of EUR 4 mn a year earlier.",
     "negative", "swing"),
    ("Earnings per share were 0.20 dollars versus a loss per share of 0.05 dollars.",
     "positive", "swing"),
    # upgrades and downgrades
    ("Goldman upgraded the stock to buy.", "positive", "rating"),
    ("Analysts downgrade the carmaker after weak deliveries.", "negative", "rating"),
    ("Morgan Stanley cut the bank to sell from neutral.", "negative", "rating"),
    ("Broker initiates coverage of the miner at outperform.", "positive", "rating"),
    ("The analyst has a sell recommendation on the shares.", "negative", "rating"),
    # beats and misses
    ("Acme beat analyst estimates for the fourth straight quarter.", "positive", "expectation"),
    ("Quarterly results came in ahead of expectations.", "positive", "expectation"),
    ("Second-quarter earnings were better than expected.", "positive", "expectation"),
    ("The chipmaker missed Wall Street expectations.", "negative", "expectation"),
    ("Results came in below consensus.", "negative", "expectation"),
    ("Delivery volumes were worse than expected.", "negative", "expectation"),
    # profit warnings
    ("The machine builder issued a profit warning on Tuesday.", "negative", "warning"),
    ("Packaging maker warns on full-year earnings.", "negative", "warning"),
    ("Profit warning sends the toy maker's shares lower.", "negative", "warning"),
])
def test_a_finance_rule_fires_and_gives_the_label(text: str, expected: str, rule: str) -> None:
    assert label(text) == expected
    assert rule in rules(text)


@pytest.mark.parametrize("text, expected", [
    # negation flips the move
    ("Revenue did not increase in the period.", "negative"),
    ("Sales failed to grow despite heavy promotion.", "negative"),
    ("Costs did not rise this year.", "positive"),
    ("Profit is no longer falling.", "positive"),
    # from x to y: the verb says nothing, the figures do
    ("Net income came to EUR 5 mn, compared with EUR 8 mn a year ago.", "negative"),
    ("EBITDA stood at USD 40 million versus USD 33 million.", "positive"),
    ("Net sales were SEK 1,210 mn against SEK 1,150 mn last year.", "positive"),
    ("The loss per share was 0.12 dollars compared with 0.30 dollars.", "positive"),
    ("Operating profit totalled 7.1 ( 9.4 ) million euros.", "negative"),
    ("Operating costs went from EUR 12 mn to EUR 9 mn.", "positive"),
    # from x to y: the verb and the figures agree
    ("Net profit fell to EUR 5 mn from EUR 8 mn.", "negative"),
    ("Net profit rose to EUR 8 mn from EUR 5 mn.", "positive"),
    # figures that are not a comparison stay neutral
    ("Prices range from EUR 20 to EUR 45 per unit.", "neutral"),
    ("Revenue was USD 10.2 bn compared to USD 10.2 bn.", "neutral"),
    # a currency conversion in brackets is not last year's figure
    ("Operating profit was EUR 20 mn ( USD 26 mn ).", "neutral"),
    # moves that are not financial news
    ("She slowed her car and turned into the side street.", "neutral"),
    ("The spokesman declined to comment on the rumours.", "neutral"),
    ("The deli sells cheese and cold cuts.", "neutral"),
    ("The share capital increased after the new shares were registered.", "neutral"),
    ("The company plans to raise EUR 300 mn in a share issue.", "neutral"),
    # other event rules
    ("The firm won a $200 million contract from the navy.", "positive"),
    ("The sawmill will lay off 450 workers.", "negative"),
    ("The merger is expected to bring cost savings of EUR 12 mn a year.", "positive"),
    ("The software house posted a net loss of EUR 2.3 mn.", "negative"),
    ("Shares hit a 52-week high on Friday.", "positive"),
    ("The stock closed at a record low.", "negative"),
    # headline style
    ("Broker raises PT on the chipmaker to $140", "positive"),
    ("Bank lowers price target on the airline to $9", "negative"),
    ("Retailer shares tank 20% after the report", "negative"),
    ("Utility stock edges higher", "positive"),
    # a sentence with two clauses weighs both
    ("Sales rose 3 %, while operating profit collapsed.", "negative"),
    ("Revenue slipped, but profit jumped 40 %.", "positive"),
])
def test_the_sentence_gets_the_label(text: str, expected: str) -> None:
    assert label(text) == expected


@pytest.mark.parametrize("text", [
    "Widget Corp is a leading global provider of innovative software solutions.",
    "The group is headquartered in Oslo and employs about 4,000 people.",
    "Founded in 1921, the company is listed on the Stockholm exchange.",
    "The annual general meeting will be held in Turku on 5 May.",
    "For further information, please contact the investor relations team.",
])
def test_neutral_boilerplate(text: str) -> None:
    assert score(text) == (0.0, "neutral")
    assert analyse(text).boilerplate
