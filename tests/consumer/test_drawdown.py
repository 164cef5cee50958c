"""The drawdown limit: past TRADEFLOW_RISK_MAX_DRAWDOWN below the peak equity (open positions
marked to market), opening orders are vetoed (`max_drawdown`) and closing ones go through; the
peak is kept in the consumer's store across restarts."""

from __future__ import annotations

import json

import pytest

from tradeflow.trading.risk import PEAK_KEY
from tests.consumer.conftest import decisions, fill, line
from tests.consumer.test_risk_rules import t, vetoed_by


def last_decision(c) -> dict:
    return json.loads(decisions(c)[-1]["detail"])


def test_opening_vetoed_past_the_limit_closing_allowed_and_the_peak_survives_a_restart(h):
    c = h.consumer(TRADEFLOW_RISK_MAX_DRAWDOWN="0.01")
    assert fill(c, line(price=100.0, bar_time=t(0))) == "approved"  # 20 AAPL at 100
    assert last_decision(c)["peak_equity"] == 100_000
    # AAPL at 150: marked to market, equity 101,000, the new peak (an already_long veto still
    # reads the account).
    assert c.handle_raw(line(price=150.0, bar_time=t(1))) == "already_long"
    assert last_decision(c)["peak_equity"] == 101_000
    c.close()

    c = h.consumer(TRADEFLOW_RISK_MAX_DRAWDOWN="0.01")  # a restart over the same state
    assert c.store.get(PEAK_KEY) == repr(101_000.0)
    assert c.handle_raw(line(price=90.0, bar_time=t(2))) == "already_long"  # equity 99,800
    d = last_decision(c)
    assert d["peak_equity"] == 101_000 and d["drawdown"] == pytest.approx(1200 / 101_000, abs=1e-6)

    d = vetoed_by(h, c, "max_drawdown", line(symbol="MSFT", price=100.0, bar_time=t(3)))
    assert "below its peak 101000.00" in d["reason"] and d["equity"] == 99_800
    # Reducing is allowed: the SELL closes the AAPL position.
    assert fill(c, line(action="SELL", price=90.0, bar_time=t(4))) == "approved"
    assert c.executor.account().positions == {}
    # Flat, equity cannot recover: openings stay vetoed...
    vetoed_by(h, c, "max_drawdown", line(symbol="MSFT", price=100.0, bar_time=t(5)))
    c.close()
    # ...until the limit is raised (there is no latch: the rule judges the current drawdown).
    c = h.consumer(TRADEFLOW_RISK_MAX_DRAWDOWN="0.02")
    assert c.handle_raw(line(symbol="MSFT", price=100.0, bar_time=t(6))) == "approved"
    assert c.store.get(PEAK_KEY) == repr(101_000.0)


def test_opening_a_short_is_vetoed_covering_is_allowed(h):
    c = h.consumer(TRADEFLOW_RISK_MAX_DRAWDOWN="0.01", TRADEFLOW_ALLOW_SHORT="true")
    assert fill(c, line(action="SELL", price=100.0, bar_time=t(0))) == "approved"  # -20
    assert c.handle_raw(line(action="SELL", price=160.0, bar_time=t(1))) == "already_short"
    assert last_decision(c)["drawdown"] == pytest.approx(1200 / 100_000, abs=1e-6)
    vetoed_by(h, c, "max_drawdown", line(symbol="MSFT", action="SELL", bar_time=t(2)))
    vetoed_by(h, c, "max_drawdown", line(symbol="MSFT", action="BUY", bar_time=t(3)))
    assert fill(c, line(action="BUY", price=160.0, bar_time=t(4))) == "approved"  # covers
    assert c.executor.account().positions == {}


def test_on_alpaca_the_brokers_equity_is_used(h, alpaca):
    alpaca.book.cash = 90_000.0
    alpaca.set_position("AAPL", 100, 100.0)  # marked at 101: equity 100,100
    h.alpaca(alpaca)
    c = h.consumer(TRADEFLOW_RISK_MAX_DRAWDOWN="0.05")
    assert c.handle_raw(line()) == "already_long"
    assert last_decision(c)["peak_equity"] == 100_100
    alpaca.prices["AAPL"] = 40.0  # equity 94,000: 6.1 % down
    vetoed_by(h, c, "max_drawdown", line(symbol="MSFT"))
    assert c.handle_raw(line(action="SELL")) == "approved"  # closing the 100 AAPL
    assert [o["symbol"] for o in alpaca.orders] == ["AAPL"]


def test_off_by_default_and_no_peak_kept(h):
    c = h.consumer(TRADEFLOW_PAPER_FEE_PER_ORDER="50000", TRADEFLOW_RISK_DAILY_LOSS_LIMIT="0")
    assert fill(c, line(bar_time=t(0))) == "approved"  # the fee alone: half the account
    assert fill(c, line(symbol="MSFT", bar_time=t(1))) == "approved"
    assert "drawdown" not in last_decision(c) and c.store.get(PEAK_KEY) is None
