"""Contract validation: every rejection kind, each with its one-line reason."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tradeflow.config import DEAD_LETTER
from tradeflow.contracts import (
    Action,
    OrderSide,
    OrderStatus,
    Strength,
    ContractError,
    DeadLetter,
    NewsItem,
    Order,
    PriceBar,
    MAX_RECORD_BYTES,
    TradingSignal,
    parse,
)
from tradeflow.deadletter import DeadLetters
from tradeflow.topics.file import FileBackend

BAR = {"v": 1, "symbol": "AAPL", "event_time": "2014-06-09T13:31:00Z", "open": 92.5,
       "high": 93.0, "low": 92.1, "close": 92.8, "volume": 1200, "source": "test"}


def bar(**changes) -> str:
    d = {**BAR, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not ...})


def test_valid_bar_round_trips_in_utc():
    b = parse(PriceBar, bar(event_time="2014-06-09T09:31:00-04:00"))
    assert b.event_time == datetime(2014, 6, 9, 13, 31, tzinfo=timezone.utc)
    wire = json.loads(b.to_json())
    assert wire["event_time"] == "2014-06-09T13:31:00Z"
    assert parse(PriceBar, b.to_json()) == b


def test_milliseconds_survive_the_wire():
    b = parse(PriceBar, bar(event_time="2024-01-02T14:30:00.250Z"))
    assert json.loads(b.to_json())["event_time"] == "2024-01-02T14:30:00.250Z"


@pytest.mark.parametrize("raw, reason", [
    ('{"symbol": "AAPL", ', "bad JSON"),
    ("[1, 2]", "record"),
    (bar(close=...), "missing field 'close'"),
    (bar(close="92.8"), "close: Input should be a valid number"),
    (bar(volume=True), "volume"),
    (bar(extra_field=1), "unexpected field 'extra_field'"),
    (bar(close=float("nan")), "close: not a finite number"),
    (bar(high=float("inf")), "high: not a finite number"),
    (bar(open=0), "open: must be positive"),
    (bar(low=-1.0), "low: must be positive"),
    (bar(high=92.0, low=92.1), "high 92.0 < low 92.1"),
    (bar(volume=-5), "volume: Input should be greater than or equal to 0"),
    (bar(symbol="aapl"), "symbol: unknown symbol format 'aapl'"),
    (bar(symbol="TOOLONGX"), "unknown symbol format"),
    (bar(symbol="BTC/USD"), "unknown symbol format"),
    (bar(event_time="2014-06-09T13:31:00"), "event_time: timestamp has no time zone"),
    (bar(event_time="yesterday"), "event_time"),
    (bar(v=2), "v: Input should be 1"),
])
def test_rejections_have_a_one_line_reason(raw, reason):
    with pytest.raises(ContractError) as exc:
        parse(PriceBar, raw)
    text = str(exc.value)
    assert reason in text
    assert "\n" not in text


def test_several_problems_are_counted_in_one_line():
    with pytest.raises(ContractError, match=r"\(\+1 more\)"):
        parse(PriceBar, bar(open=-1, close=-1))


def test_share_class_symbols_are_valid():
    assert parse(PriceBar, bar(symbol="BRK.B")).symbol == "BRK.B"


def test_news_item():
    item = parse(NewsItem, json.dumps({
        "id": "n1", "symbols": ["AAPL", "MSFT"], "headline": "Apple and Microsoft sign deal",
        "source": "test", "published_at": "2020-03-02T14:00:00+00:00"}))
    assert item.key == "AAPL" and item.summary == "" and item.url is None
    with pytest.raises(ContractError, match="symbols"):
        parse(NewsItem, item.model_copy(update={"symbols": []}).to_json())
    with pytest.raises(ContractError, match="symbols.0: unknown symbol format"):
        parse(NewsItem, json.dumps({**json.loads(item.to_json()), "symbols": ["apple"]}))
    with pytest.raises(ContractError, match="published_at: timestamp has no time zone"):
        parse(NewsItem, json.dumps({**json.loads(item.to_json()),
                                    "published_at": "2020-03-02T14:00:00"}))


def test_signal_and_order_round_trip():
    sig = TradingSignal(
        signal_id="abc", symbol="AAPL", action=Action.BUY, strength=Strength.STRONG, confidence=0.8,
        price=100.0, bar_time=datetime(2024, 1, 2, 15, tzinfo=timezone.utc),
        emitted_at=datetime(2024, 1, 2, 15, 0, 1, tzinfo=timezone.utc),
        indicators={"rsi_14": 28.0, "sma_50": None}, sentiment=0.4, reason="oversold",
        strategy="confluence", strategy_version="1", stop_loss=95.0, take_profit=110.0,
        horizon_bars=30)
    assert parse(TradingSignal, sig.to_json()) == sig
    with pytest.raises(ContractError, match="confidence"):
        parse(TradingSignal, json.dumps({**json.loads(sig.to_json()), "confidence": 1.5}))
    now = datetime.now(timezone.utc)
    order = Order(client_order_id="tf-abc", signal_id="abc", symbol="AAPL", side=OrderSide.buy, qty=3,
                  status=OrderStatus.filled, broker="sim", filled_qty=3, filled_avg_price=100.1,
                  submitted_at=now, updated_at=now)
    assert parse(Order, order.to_json()) == order
    assert order.status.final


def test_rejected_record_goes_to_dead_letter_with_reason(tmp_path):
    backend = FileBackend(tmp_path)
    dl = DeadLetters(backend, "test-component")
    assert dl.parse(PriceBar, b'{"not": "a bar"', source_topic="stock-prices") is None
    assert dl.parse(PriceBar, bar()) is not None
    backend.flush()
    sub = backend.subscribe(DEAD_LETTER, "check")
    [msg] = sub.poll(timeout=0.5)
    env = parse(DeadLetter, msg.value)
    assert env.original == '{"not": "a bar"'
    assert env.reason.startswith("bad JSON")
    assert env.component == "test-component" and env.source_topic == "stock-prices"
    assert dl.count == 1


SIGNAL = {"v": 1, "signal_id": "abc", "symbol": "AAPL", "action": "BUY", "strength": "NORMAL",
          "confidence": 0.5, "price": 100.0, "bar_time": "2024-01-02T15:00:00Z",
          "emitted_at": "2024-01-02T15:00:01Z", "indicators": {"rsi_14": 28.0}, "reason": "oversold",
          "strategy": "confluence", "strategy_version": "1"}


@pytest.mark.parametrize("over, reason", [
    ({"reason": "r" * 1001}, "reason: String should have at most 1000 characters"),
    ({"indicators": {f"i{n}": 1.0 for n in range(65)}}, "indicators: Dictionary should have at most 64"),
    ({"strategy": "s" * 65}, "strategy: String should have at most 64 characters"),
])
def test_a_signal_s_text_and_indicators_are_bounded(over, reason):
    assert parse(TradingSignal, json.dumps(SIGNAL)).reason == "oversold"
    with pytest.raises(ContractError, match=reason):
        parse(TradingSignal, json.dumps(SIGNAL | over))


def test_no_record_over_the_size_limit_is_parsed():
    bar = PriceBar(symbol="AAPL", event_time=datetime(2024, 1, 2, 14, 31, tzinfo=timezone.utc),
                   open=1, high=1, low=1, close=1, volume=1, source="s" * 64)
    padded = bar.to_json()[:-1] + b" " * MAX_RECORD_BYTES + b"}"  # valid JSON, too big
    with pytest.raises(ContractError, match="bytes is over the 1,048,576-byte limit"):
        parse(PriceBar, padded)
    assert parse(PriceBar, bar.to_json()) == bar
