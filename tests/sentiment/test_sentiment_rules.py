"""Finance rules, on sentences written for these tests (none taken from PhraseBank)."""

from __future__ import annotations

import pytest

from tradeflow.sentiment import score
from tradeflow.sentiment.finance import analyse


def label(text: str) -> str:
    return score(text).label


def rules(text: str) -> set[str]:
    return {e.rule for e in analyse(text).evidence}


@pytest.mark.parametrize("text, expected", [
    # direction x quantity: the quantity decides what a move means
    ("Quarterly profit rose to $4.2 billion.", "positive"),
    ("Net income climbed 12 percent in the spring quarter.", "positive"),
    ("Costs rose sharply in the third quarter.", "negative"),
    ("Operating expenses increased by a fifth.", "negative"),
    ("Costs fell 8 percent year over year.", "positive"),
    ("The group managed to reduce its debt by a third.", "positive"),
    ("Revenue declined for a second year.", "negative"),
    ("Order intake dropped 14 % in the first half.", "negative"),
    ("The retailer's net loss narrowed in the holiday quarter.", "positive"),
    ("The airline's loss widened in the second quarter.", "negative"),
    ("Gross margin widened to 41 percent.", "positive"),
    ("Higher raw material costs weighed on the toolmaker.", "negative"),
    ("Lower freight costs helped the quarter.", "positive"),
    ("Rising orders kept the shipyard busy.", "positive"),
    ("Falling subscriber numbers worry the cable operator.", "negative"),
])
def test_direction_times_quantity(text: str, expected: str) -> None:
    assert label(text) == expected
    assert "change" in rules(text)


@pytest.mark.parametrize("text, expected", [
    ("Revenue did not increase in the period.", "negative"),
    ("Sales failed to grow despite heavy promotion.", "negative"),
    ("Costs did not rise this year.", "positive"),
    ("Profit is no longer falling.", "positive"),
])
def test_negation_flips_the_move(text: str, expected: str) -> None:
    assert label(text) == expected


@pytest.mark.parametrize("text, expected", [
    # the verb says nothing, the figures do
    ("Net income came to EUR 5 mn, compared with EUR 8 mn a year ago.", "negative"),
    ("EBITDA stood at USD 40 million versus USD 33 million.", "positive"),
    ("Net sales were SEK 1,210 mn against SEK 1,150 mn last year.", "positive"),
    ("The loss per share was 0.12 dollars compared with 0.30 dollars.", "positive"),
    ("Operating profit totalled 7.1 ( 9.4 ) million euros.", "negative"),
    ("Operating costs went from EUR 12 mn to EUR 9 mn.", "positive"),
    # the verb and the figures agree
    ("Net profit fell to EUR 5 mn from EUR 8 mn.", "negative"),
    ("Net profit rose to EUR 8 mn from EUR 5 mn.", "positive"),
])
def test_from_x_to_y_comparisons(text: str, expected: str) -> None:
    assert label(text) == expected


def test_figures_that_are_not_a_comparison_stay_neutral() -> None:
    assert label("Prices range from EUR 20 to EUR 45 per unit.") == "neutral"
    assert label("Revenue was USD 10.2 bn compared to USD 10.2 bn.") == "neutral"
    # a currency conversion in brackets is not last year's figure
    assert label("Operating profit was EUR 20 mn ( USD 26 mn ).") == "neutral"


@pytest.mark.parametrize("text, expected", [
    ("The bakery chain swung to a net profit of EUR 3 mn from a net loss of EUR 1 mn.",
     "positive"),
    ("The insurer swung to a loss in the first half.", "negative"),
    ("The unit returned to profit after two difficult years.", "positive"),
    ("The operating loss was EUR 2 mn, against a profit of EUR 4 mn a year earlier.",
     "negative"),
    ("Earnings per share were 0.20 dollars versus a loss per share of 0.05 dollars.",
     "positive"),
])
def test_swings_across_zero(text: str, expected: str) -> None:
    assert label(text) == expected
    assert "swing" in rules(text)


@pytest.mark.parametrize("text, expected", [
    ("Goldman upgraded the stock to buy.", "positive"),
    ("Analysts downgrade the carmaker after weak deliveries.", "negative"),
    ("Morgan Stanley cut the bank to sell from neutral.", "negative"),
    ("Broker initiates coverage of the miner at outperform.", "positive"),
    ("The analyst has a sell recommendation on the shares.", "negative"),
])
def test_upgrades_and_downgrades(text: str, expected: str) -> None:
    assert label(text) == expected
    assert "rating" in rules(text)


@pytest.mark.parametrize("text, expected", [
    ("Acme beat analyst estimates for the fourth straight quarter.", "positive"),
    ("Quarterly results came in ahead of expectations.", "positive"),
    ("Second-quarter earnings were better than expected.", "positive"),
    ("The chipmaker missed Wall Street expectations.", "negative"),
    ("Results came in below consensus.", "negative"),
    ("Delivery volumes were worse than expected.", "negative"),
])
def test_beats_and_misses(text: str, expected: str) -> None:
    assert label(text) == expected
    assert "expectation" in rules(text)


@pytest.mark.parametrize("text", [
    "The machine builder issued a profit warning on Tuesday.",
    "Packaging maker warns on full-year earnings.",
    "Profit warning sends the toy maker's shares lower.",
])
def test_profit_warning(text: str) -> None:
    assert label(text) == "negative"
    assert "warning" in rules(text)


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


@pytest.mark.parametrize("text", [
    "She slowed her car and turned into the side street.",
    "The spokesman declined to comment on the rumours.",
    "The deli sells cheese and cold cuts.",
    "The share capital increased after the new shares were registered.",
    "The company plans to raise EUR 300 mn in a share issue.",
])
def test_moves_that_are_not_financial_news(text: str) -> None:
    assert label(text) == "neutral"


@pytest.mark.parametrize("text, expected", [
    ("The firm won a $200 million contract from the navy.", "positive"),
    ("The sawmill will lay off 450 workers.", "negative"),
    ("The merger is expected to bring cost savings of EUR 12 mn a year.", "positive"),
    ("The software house posted a net loss of EUR 2.3 mn.", "negative"),
    ("Shares hit a 52-week high on Friday.", "positive"),
    ("The stock closed at a record low.", "negative"),
])
def test_other_event_rules(text: str, expected: str) -> None:
    assert label(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Broker raises PT on the chipmaker to $140", "positive"),
    ("Bank lowers price target on the airline to $9", "negative"),
    ("Retailer shares tank 20% after the report", "negative"),
    ("Utility stock edges higher", "positive"),
])
def test_headline_style(text: str, expected: str) -> None:
    assert label(text) == expected


def test_sentence_with_two_clauses_weighs_both() -> None:
    assert label("Sales rose 3 %, while operating profit collapsed.") == "negative"
    assert label("Revenue slipped, but profit jumped 40 %.") == "positive"
