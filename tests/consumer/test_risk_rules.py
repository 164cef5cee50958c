"""Every risk rule, one test each: the rule's name is in the audited decision, and no order."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from tradeflow.trading.killswitch import kill_switch_state
from tests.consumer.conftest import IN_SESSION, decisions, fill, line


def vetoed_by(h, c, rule: str, raw: bytes, caplog=None) -> dict:
    before = len(h.orders())
    assert c.handle_raw(raw) == rule
    d = decisions(c)[-1]
    assert d["rule"] == rule and json.loads(d["detail"])["approved"] is False
    assert len(h.orders()) == before, "a vetoed signal must not create an order"
    return json.loads(d["detail"])


def t(minutes: float) -> datetime:
    return IN_SESSION + timedelta(minutes=minutes)


def test_kill_switch(h, settings, caplog):
    c = h.consumer()
    c.kill.engage("fat finger", by="test")
    assert kill_switch_state(settings).engaged and kill_switch_state(settings).reason == "fat finger"
    # (at debug level: the console notifier, this consumer's, says it on the terminal)
    with caplog.at_level(logging.DEBUG, logger="tradeflow.trading.risk"):
        d = vetoed_by(h, c, "kill_switch", line(bar_time=t(0)))
    assert "fat finger" in d["reason"] and "[kill_switch]" in caplog.text
    c.kill.release()
    assert not kill_switch_state(settings).engaged
    assert c.handle_raw(line(bar_time=t(1))) == "approved"


def test_staleness_on_the_wall_clock(h):
    c = h.consumer(TRADEFLOW_RISK_CLOCK="wall", TRADEFLOW_RISK_MARKET_HOURS="false")
    old = datetime.now(timezone.utc) - timedelta(days=3)
    d = vetoed_by(h, c, "staleness", line(bar_time=old))
    assert "old" in d["reason"] and d["clock_mode"] == "wall"


def test_staleness_on_the_signal_clock_behind_the_newest_bar(h):
    c = h.consumer()
    assert c.handle_raw(line(symbol="MSFT", bar_time=t(60))) == "approved"
    vetoed_by(h, c, "staleness", line(symbol="AAPL", bar_time=t(0)))  # an hour behind


def test_signal_from_the_future_is_not_traded_on_the_wall_clock(h):
    c = h.consumer(TRADEFLOW_RISK_CLOCK="wall", TRADEFLOW_RISK_MARKET_HOURS="false")
    future = datetime.now(timezone.utc) + timedelta(hours=2)  # the simulator runs ahead
    d = vetoed_by(h, c, "staleness", line(bar_time=future))
    assert "future" in d["reason"]


def test_min_confidence(h):
    c = h.consumer(TRADEFLOW_RISK_MIN_CONFIDENCE="0.7")
    vetoed_by(h, c, "min_confidence", line(confidence=0.65, bar_time=t(0)))


def test_market_hours_by_the_calendar_on_the_simulator(h):
    c = h.consumer()
    saturday = datetime(2024, 3, 9, 15, 0, tzinfo=timezone.utc)
    d = vetoed_by(h, c, "market_hours", line(bar_time=saturday))
    assert "market closed" in d["reason"]
    good_friday = datetime(2024, 3, 29, 15, 0, tzinfo=timezone.utc)
    vetoed_by(h, c, "market_hours", line(bar_time=good_friday))


def test_market_hours_by_alpacas_clock(h, alpaca):
    alpaca.is_open = False
    h.alpaca(alpaca)
    c = h.consumer()
    vetoed_by(h, c, "market_hours", line())
    assert alpaca.calls("GET", "/v2/clock") and not alpaca.calls("POST")


def test_cooldown_per_symbol(h):
    c = h.consumer(TRADEFLOW_RISK_COOLDOWN_SECONDS="300")
    assert c.handle_raw(line(bar_time=t(0))) == "approved"
    d = vetoed_by(h, c, "cooldown", line(action="SELL", bar_time=t(2)))
    assert "cooldown 300s" in d["reason"]
    assert c.handle_raw(line(symbol="MSFT", bar_time=t(3))) == "approved"  # other symbols trade
    assert c.handle_raw(line(action="SELL", bar_time=t(6))) == "approved"  # after the cooldown


def test_no_buy_when_already_long(h):
    c = h.consumer()
    assert c.handle_raw(line(bar_time=t(0))) == "approved"
    vetoed_by(h, c, "already_long", line(bar_time=t(1)))


def test_no_sell_when_flat_unless_shorting(h):
    c = h.consumer()
    vetoed_by(h, c, "no_short_selling", line(action="SELL", bar_time=t(0)))


def test_no_sell_when_already_short(h):
    c = h.consumer(TRADEFLOW_ALLOW_SHORT="true")
    assert c.handle_raw(line(action="SELL", bar_time=t(0))) == "approved"
    vetoed_by(h, c, "already_short", line(action="SELL", bar_time=t(1)))
    assert c.handle_raw(line(action="BUY", bar_time=t(2))) == "approved"  # BUY covers
    assert c.executor.account().positions == {}


def test_size_rounding_to_zero_shares(h):
    c = h.consumer()
    vetoed_by(h, c, "sizing", line(price=5_000.0, bar_time=t(0)))  # 2% of 100k < 1 share


def test_max_order_value(h):
    c = h.consumer(TRADEFLOW_RISK_MAX_ORDER_VALUE="1500")
    d = vetoed_by(h, c, "max_order_value", line(bar_time=t(0)))
    assert d["order_value"] == 2000


def test_max_position_value(h):
    c = h.consumer(TRADEFLOW_RISK_MAX_POSITION_VALUE="1999")
    vetoed_by(h, c, "max_position_value", line(bar_time=t(0)))


def test_max_gross_exposure(h):
    c = h.consumer(TRADEFLOW_RISK_MAX_GROSS_EXPOSURE="5000")
    for i, sym in enumerate(("AAPL", "MSFT")):
        assert c.handle_raw(line(symbol=sym, bar_time=t(i))) == "approved"
    d = vetoed_by(h, c, "max_gross_exposure", line(symbol="GOOG", bar_time=t(3)))
    assert d["gross_exposure"] == pytest.approx(6000)


def test_max_open_positions(h):
    c = h.consumer(TRADEFLOW_RISK_MAX_OPEN_POSITIONS="2")
    for i, sym in enumerate(("AAPL", "MSFT")):
        assert c.handle_raw(line(symbol=sym, bar_time=t(i))) == "approved"
    vetoed_by(h, c, "max_open_positions", line(symbol="GOOG", bar_time=t(3)))
    # Closing is always allowed, and frees a slot.
    assert c.handle_raw(line(symbol="AAPL", action="SELL", bar_time=t(4))) == "approved"
    assert c.handle_raw(line(symbol="GOOG", bar_time=t(5))) == "approved"


def test_daily_loss_limit_stops_trading_for_the_day(h, alpaca):
    alpaca.book.last_equity = 103_000.0  # equity is 100k: 3k down on the day
    h.alpaca(alpaca)
    c = h.consumer(TRADEFLOW_RISK_DAILY_LOSS_LIMIT="2500")
    d = vetoed_by(h, c, "daily_loss_limit", line())
    assert d["day_pnl"] == -3000
    alpaca.book.last_equity = None  # even if the account recovers, not today
    vetoed_by(h, c, "daily_loss_limit", line(symbol="MSFT"))
    assert not alpaca.calls("POST")


def test_daily_loss_limit_on_the_simulator_tracks_the_day_start(h):
    c = h.consumer(TRADEFLOW_RISK_DAILY_LOSS_LIMIT="100", TRADEFLOW_PAPER_FEE_PER_ORDER="150")
    assert fill(c, line(bar_time=t(0))) == "approved"  # the fee alone loses 150
    vetoed_by(h, c, "daily_loss_limit", line(symbol="MSFT", bar_time=t(1)))
    next_day = t(24 * 60)
    assert c.handle_raw(line(symbol="MSFT", bar_time=next_day)) == "approved"


def test_broker_unavailable_means_no_order(h, alpaca):
    h.alpaca(alpaca)
    c = h.consumer()
    alpaca.down()
    vetoed_by(h, c, "broker_unavailable", line())


def test_volatility_sizing_uses_the_stop_distance(h):
    c = h.consumer(TRADEFLOW_SIZING="volatility", TRADEFLOW_SIZING_RISK_FRACTION="0.005")
    assert c.handle_raw(line(price=100.0, stop_loss=95.0, bar_time=t(0))) == "approved"
    assert h.orders()[-1].qty == 100  # 500 at risk / 5 per share
    assert c.handle_raw(line(symbol="MSFT", price=100.0, bar_time=t(1))) == "approved"
    assert h.orders()[-1].qty == 20  # no stop: fixed fractional


def test_every_limit_is_logged_and_audited_when_it_bites(h, caplog):
    c = h.consumer(TRADEFLOW_RISK_MAX_ORDER_VALUE="10")
    # (at debug level: the console notifier, this consumer's, says it on the terminal)
    with caplog.at_level(logging.DEBUG, logger="tradeflow.trading.risk"):
        c.handle_raw(line(signal_id="bites", bar_time=t(0)))
    assert "[max_order_value]" in caplog.text and "bites" in caplog.text
    assert decisions(c, "bites")[0]["rule"] == "max_order_value"
