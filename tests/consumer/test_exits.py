"""Positions to their exit through the consumer and the paper broker, on hand-made bars: stop,
target, a gap through the stop, both in one bar, the horizon, an opposite signal; the exit
reasons on `orders` and in the audit trail; open trades surviving a restart."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.consumer.conftest import IN_SESSION, bar, client_order_id, line
from tradeflow.contracts import OrderStatus, PriceBar, parse
from tradeflow.trading.audit import query


def t(minutes: int):
    return IN_SESSION + timedelta(minutes=minutes)


def feed(c, minute: int, open_: float, high: float | None = None, low: float | None = None,
         close: float | None = None, symbol: str = "AAPL") -> None:
    c.handle_bar(parse(PriceBar, bar(symbol, t(minute), open_, high, low, close)))


def entry(c, action: str = "BUY", horizon: int = 30, signal_id: str = "e-1") -> None:
    """A signal on the bar ending at minute 0, filled at the open of minute 1's bar (100)."""
    long = action == "BUY"
    assert c.handle_raw(line(signal_id=signal_id, action=action, price=100.0, bar_time=t(0),
                             stop_loss=98.0 if long else 102.0,
                             take_profit=104.0 if long else 96.0,
                             horizon_bars=horizon)) == "approved"
    feed(c, 1, 100.0, 100.5, 99.5)
    assert c.executor.account().positions["AAPL"].qty == (20 if long else -20)


def closed(c) -> list[dict]:
    return [json.loads(e["detail"]) for e in query(c.store, kind="trade_closed")]


def only_trade(c) -> dict:
    trades = closed(c)
    assert len(trades) == 1 and not c.trades and not c.executor.account().positions
    return trades[0]


def test_stop_reached_by_a_bars_low_fills_at_the_stop(h):
    c = h.consumer()
    entry(c)
    feed(c, 2, 99.0, 99.5, 97.5)
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"], tr["side"]) == ("stop_loss", 98.0, "long")
    assert tr["entry_time"] == "2024-03-05T15:00:00Z"  # the open of the minute-1 bar
    assert tr["entry_bar_time"] == "2024-03-05T15:01:00Z"
    assert tr["exit_bar_time"] == tr["exit_time"] == "2024-03-05T15:02:00Z"
    assert tr["pnl"] == pytest.approx(20 * (98.0 - 100.0))
    exits = [o for o in h.orders() if o.exit_reason]
    assert [(o.exit_reason, o.order_type, o.side.value, o.status) for o in exits] == \
        [("stop_loss", "stop", "sell", OrderStatus.filled)]
    assert exits[0].client_order_id == client_order_id("e-1") + "-stop_loss"


def test_a_bar_that_gaps_through_the_stop_fills_at_its_open(h):
    c = h.consumer()
    entry(c)
    feed(c, 2, 96.5, 97.0, 96.0)
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"]) == ("stop_loss", 96.5)
    assert tr["exit_time"] == "2024-03-05T15:01:00Z"  # at the open of the minute-2 bar


def test_stop_and_target_in_one_bar_assume_the_stop(h):
    c = h.consumer()
    entry(c)
    feed(c, 2, 100.0, 104.5, 97.5)
    assert only_trade(c)["exit_reason"] == "stop_loss"


def test_target_reached_by_a_bars_high_fills_at_the_target(h):
    c = h.consumer()
    entry(c)
    feed(c, 2, 101.0, 102.0, 100.5)
    assert not closed(c)
    feed(c, 3, 102.0, 104.2, 101.5)
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"]) == ("take_profit", 104.0)
    assert tr["pnl"] == pytest.approx(20 * 4.0)


def test_short_stop_and_target_mirror_the_long(h):
    c = h.consumer(TRADEFLOW_ALLOW_SHORT="true")
    entry(c, "SELL")
    feed(c, 2, 99.0, 99.5, 95.8)
    tr = only_trade(c)
    assert (tr["side"], tr["exit_reason"], tr["exit_price"]) == ("short", "take_profit", 96.0)
    assert tr["pnl"] == pytest.approx(20 * 4.0)


def test_horizon_closes_at_the_open_of_the_bar_after_it(h):
    c = h.consumer()
    entry(c, horizon=3)  # held through the bars of minutes 1, 2, 3
    feed(c, 2, 100.0, 101.0, 99.0)
    feed(c, 3, 100.5, 101.0, 99.5)
    assert not closed(c)
    horizon = [o for o in h.orders() if o.exit_reason == "horizon"]
    assert [o.status for o in horizon] == [OrderStatus.new, OrderStatus.accepted]
    feed(c, 4, 101.5, 103.0, 101.0)
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"], tr["bars_held"]) == ("horizon", 101.5, 3)
    assert tr["exit_time"] == "2024-03-05T15:03:00Z"  # the open of the minute-4 bar
    # Its legs were cancelled first: a low under the stop now trades nothing.
    feed(c, 5, 97.0, 97.0, 90.0)
    assert c.executor.account().positions == {} and len(closed(c)) == 1


def test_an_opposite_signal_closes_at_the_next_open_and_cancels_the_legs(h):
    c = h.consumer()
    entry(c)
    assert c.handle_raw(line(signal_id="x-1", action="SELL", price=101.0,
                             bar_time=t(2))) == "approved"
    feed(c, 3, 101.2, 101.5, 97.0)  # the low would have hit the stop: the close came first
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"]) == ("signal", 101.2)
    close = [o for o in h.orders() if o.client_order_id == client_order_id("x-1")][-1]
    assert close.exit_reason == "signal" and close.status is OrderStatus.filled


def test_open_trades_survive_a_restart(h):
    c = h.consumer()
    entry(c, horizon=2)
    c.close()
    c = h.consumer()
    assert [tr.signal_id for tr in c.trades.values()] == ["e-1"]
    feed(c, 2, 100.0, 100.5, 99.5)  # the second bar held: the horizon's close is sent
    feed(c, 2, 100.0, 100.5, 99.5)  # a redelivery counts once
    feed(c, 3, 100.4, 100.5, 99.5)
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"], tr["bars_held"]) == ("horizon", 100.4, 2)


def test_without_brackets_the_engine_watches_stop_and_target(h):
    c = h.consumer(TRADEFLOW_BRACKET_ORDERS="false")
    entry(c)
    assert [o.order_type for o in h.orders()][:1] == ["market"]
    feed(c, 2, 99.0, 99.5, 97.5)  # crosses the stop: a market order is sent...
    assert not closed(c)
    feed(c, 3, 97.0, 97.5, 96.5)  # ...and fills at the next open
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"]) == ("stop_loss", 97.0)


def test_the_backtest_makes_the_same_fills_and_exits_as_the_consumer(h):
    """One scenario, two worlds: the consumer fed bar by bar (then each bar's signals, the order
    they arrive in live) and the backtest over the same records make identical fills."""
    from backtest.data import bars_frame
    from backtest.execution import Costs, ExecConfig, execute

    closes = [100, 100.5, 101, 99, 97.5, 98, 99, 101, 103, 104.5, 102, 101, 100, 99.5, 99,
              98.5, 99, 100, 101, 102]
    bars = [parse(PriceBar, bar(sym, t(i), c * k - 0.2, c * k + 1.2, c * k - 1.5, c * k))
            for i, c in enumerate(closes) for sym, k in (("AAPL", 1.0), ("MSFT", 3.0))]
    raw = [line(signal_id="s-1", price=100.0, bar_time=t(0), stop_loss=97.9, take_profit=104.0,
                horizon_bars=8),
           line(signal_id="s-2", symbol="MSFT", price=301.5, bar_time=t(1), stop_loss=290.0,
                take_profit=320.0, horizon_bars=4),
           line(signal_id="s-3", price=103.0, bar_time=t(8), stop_loss=98.0,
                take_profit=110.0, horizon_bars=5),
           line(signal_id="s-4", action="SELL", price=101.0, bar_time=t(11)),
           line(signal_id="s-5", symbol="MSFT", price=297.0, bar_time=t(14), stop_loss=280.0,
                take_profit=303.5, horizon_bars=10)]
    by_time: dict = {}
    for r in raw:
        by_time.setdefault(json.loads(r)["bar_time"], []).append(r)

    c = h.consumer()
    for b in bars:
        c.handle_bar(b)
        if b.symbol == "MSFT":  # the last bar of the minute: its signals come now
            for r in by_time.get(b.event_time.isoformat().replace("+00:00", "Z"), ()):
                c.handle_raw(r)
    live = sorted((o.client_order_id, o.side.value, o.filled_qty, o.filled_avg_price,
                   o.filled_at, o.exit_reason) for o in h.orders()
                  if o.status is OrderStatus.filled)

    from tradeflow.contracts import TradingSignal
    res = execute(bars_frame(bars), [parse(TradingSignal, r) for r in raw],
                  ExecConfig(100_000.0, Costs(0, 0, 0)))
    back = sorted((f.client_order_id, f.side, f.qty, f.price, f.time, f.exit_reason)
                  for f in res.fills)
    assert back == live
    reasons = sorted(tr.exit_reason for tr in res.trades if not tr.open)
    assert reasons == sorted(x["exit_reason"] for x in closed(c))
    # The scenario reaches every kind of exit.
    assert set(reasons) == {"stop_loss", "take_profit", "horizon", "signal"}


def test_the_consumer_decides_each_signal_before_the_bars_after_it(h):
    """Read in one poll, bars 1-3 and the signals of bars 0 and 2 are handled in time order: the
    SELL of bar 2 closes the position at bar 3's open, before bar 3's low reaches the stop."""
    h.publish_bars([bar("AAPL", t(1), 100.0, 100.5, 99.5), bar("AAPL", t(2), 100.2, 100.6, 99.8),
                    bar("AAPL", t(3), 100.4, 100.5, 97.0)])
    h.publish_signals([line(signal_id="e-1", price=100.0, bar_time=t(0), stop_loss=98.0,
                            take_profit=104.0, horizon_bars=30),
                       line(signal_id="x-1", action="SELL", price=100.3, bar_time=t(2))])
    c = h.consumer()
    c.run(once=True, poll_timeout=0.1)
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"]) == ("signal", 100.4)


def test_signals_of_one_bar_are_decided_by_symbol_as_in_the_backtest(h):
    """Two signals of one bar compete for the only open position allowed: whatever order the
    job wrote them in, the consumer decides them by symbol, as the backtest does."""
    h.publish_bars([bar("AAPL", t(0), 100.0, 100.5, 99.5), bar("MSFT", t(0), 300.0, 301, 299)])
    h.publish_signals([line(signal_id="m-1", symbol="MSFT", price=300.0, bar_time=t(0)),
                       line(signal_id="a-1", price=100.0, bar_time=t(0))])
    c = h.consumer(TRADEFLOW_RISK_MAX_OPEN_POSITIONS="1")
    c.run(once=True, poll_timeout=0.1)
    rules = {d["signal_id"]: d["rule"] for d in query(c.store, kind="decision")}
    assert rules == {"a-1": "approved", "m-1": "max_open_positions"}


def test_a_backlog_of_signals_holds_the_later_bars_back(h):
    """More signals waiting than one poll takes (a restart, a slow consumer): the bars after the
    last signal of a poll wait for the next poll's signals, so the SELL of bar 6 still closes
    the position at bar 7's open, before bar 7's low reaches the stop."""
    h.publish_bars([bar("AAPL", t(i), 100.0 + i / 10, 100.6 + i / 10, 99.9 + i / 10)
                    for i in range(1, 7)] + [bar("AAPL", t(7), 100.6, 100.7, 97.0)])
    h.publish_signals([line(signal_id="e-1", price=100.0, bar_time=t(0), stop_loss=98.0,
                            take_profit=104.0, horizon_bars=30)]
                      + [line(signal_id=f"v-{i}", price=100.0, bar_time=t(i), confidence=0.01)
                         for i in range(1, 6)]
                      + [line(signal_id="x-1", action="SELL", price=100.5, bar_time=t(6))])
    c = h.consumer()
    c.run(once=True, poll_timeout=0.1, batch=3)
    tr = only_trade(c)
    assert (tr["exit_reason"], tr["exit_price"]) == ("signal", 100.6)
