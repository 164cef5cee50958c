"""Execution: the consumer's engine, risk manager and paper broker over hand-made bars (no Flink):
next-bar-open fills, exits, and the same fills as the consumer on the same records."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from backtest.execution import Costs, ExecConfig, execute
from backtest.metrics import buy_and_hold

from .helpers import NY, DAYS, daily_bars, daily_end, frame, minute_bars, signal

# A 10% position per trade so that the sizes are round: floor(100000 * 0.1 / 100) = 100 shares.
RISK = {"sizing_fraction": 0.1, "risk_min_confidence": 0.5}
# Close-execution and next-open-execution differ: the BUY bar closes at 100 and the next bar
# opens at 110; the SELL bar closes at 120 and the next bar opens at 90.
OPENS = [100.0, 100.0, 100.0, 110.0, 118.0, 90.0, 95.0]
CLOSES = [100.0, 100.0, 100.0, 120.0, 120.0, 95.0, 96.0]


def _run(costs: Costs = Costs(0, 0, 0), **risk):
    bars = frame(daily_bars("AAA", OPENS, CLOSES))
    sigs = [signal("AAA", "BUY", daily_end(2), 100.0), signal("AAA", "SELL", daily_end(4), 120.0)]
    return execute(bars, sigs, ExecConfig(100_000.0, costs, {**RISK, **risk}))


def test_fills_at_next_bar_open_not_at_signal_close() -> None:
    res = _run()
    buy, sell = res.fills
    assert (buy.side, buy.qty, buy.price) == ("buy", 100, 110.0)  # not 100 (the signal's close)
    assert (sell.side, sell.qty, sell.price) == ("sell", 100, 90.0)  # not 120
    # decided and filled at 09:30 New York of the day after the signal bar
    assert buy.time == datetime.combine(DAYS[3], time(9, 30), NY)
    assert sell.time == datetime.combine(DAYS[5], time(9, 30), NY)
    (trade,) = res.trades
    assert trade.pnl == pytest.approx(100 * (90 - 110))
    assert not trade.open and trade.bars_held == 2
    # at-close execution would have made +2000; next-open execution loses 2000
    assert res.equity["equity"].iloc[-1] == pytest.approx(98_000.0)


def test_equity_and_positions_per_bar() -> None:
    res = _run()
    assert list(res.positions["AAA"]) == [0, 0, 0, 100, 100, 0, 0]
    # marked at each close while held: cash 89000 + 100 x close
    assert list(res.equity["equity"]) == pytest.approx(
        [100_000, 100_000, 100_000, 89_000 + 12_000, 89_000 + 12_000, 98_000, 98_000])
    assert list(res.equity["gross_exposure"]) == pytest.approx([0, 0, 0, 12_000, 12_000, 0, 0])


def test_fees_and_slippage_arithmetic() -> None:
    res = _run(Costs(slippage_bps=10, fee_bps=5, fee_per_order=1.0))
    buy, sell = res.fills
    assert buy.price == pytest.approx(110 * 1.001)  # buyers pay more
    assert sell.price == pytest.approx(90 * 0.999)  # sellers get less
    assert buy.fee == pytest.approx(1 + 100 * 110.11 * 0.0005)  # 6.5055
    assert sell.fee == pytest.approx(1 + 100 * 89.91 * 0.0005)  # 5.4955
    (trade,) = res.trades
    assert trade.fees == pytest.approx(6.5055 + 5.4955)
    assert trade.pnl == pytest.approx(100 * (89.91 - 110.11) - 12.001)
    assert res.equity["equity"].iloc[-1] == pytest.approx(100_000 - 2032.001, abs=1e-3)


def test_shared_risk_rules_decide() -> None:
    bars = frame(daily_bars("AAA", OPENS, CLOSES))
    sigs = [signal("AAA", "SELL", daily_end(0), 100.0),  # flat and no shorting
            signal("AAA", "BUY", daily_end(1), 100.0, confidence=0.4),  # below min confidence
            signal("AAA", "BUY", daily_end(2), 100.0),
            signal("AAA", "BUY", daily_end(3), 120.0),  # already long
            signal("AAA", "SELL", daily_end(6), 96.0)]  # last bar: never fills
    res = execute(bars, sigs, ExecConfig(100_000.0, Costs(0, 0, 0), RISK))
    assert [d["rule"] for d in res.decisions] == [
        "no_short_selling", "min_confidence", "approved", "already_long", "approved"]
    assert [d["fill_price"] for d in res.decisions if d["rule"] == "approved"] == [110.0, None]
    assert res.trades[0].open


def test_intraday_market_hours_and_staleness_judge_the_historical_clock() -> None:
    day = DAYS[1]
    clock = [time(10, m) for m in range(6)] + [time(10, 30), time(15, 58), time(15, 59),
                                                time(16, 0), time(16, 5)]
    at = [datetime.combine(day, t, NY).astimezone(timezone.utc) for t in clock]
    bars = frame(minute_bars("BBB", at, [50.0] * len(at), [50.0] * len(at)))
    sigs = [signal("BBB", "BUY", at[0], 50.0),  # decided at 10:00, fills at the next open
            signal("BBB", "BUY", at[5], 50.0),  # already long
            signal("BBB", "SELL", at[9], 50.0)]  # decided at 16:00: the market is closed
    res = execute(bars, sigs, ExecConfig(100_000.0, Costs(0, 0, 0),
                                         {**RISK, "risk_cooldown_seconds": 0}))
    assert [d["rule"] for d in res.decisions] == ["approved", "already_long", "market_hours"]
    assert res.fills[0].time == at[1] - timedelta(minutes=1)  # the next bar's start
    assert res.trades[0].open  # still long at the end, marked at the last close
    # A signal from the past is judged by the clock of its own bar: never stale here.
    assert all(d["decided_at"] == d["bar_time"] for d in res.decisions)


def test_cooldown_uses_the_historical_order_time() -> None:
    day = DAYS[1]
    at = [datetime.combine(day, time(10, m), NY).astimezone(timezone.utc) for m in range(5)]
    bars = frame(minute_bars("CCC", at, [50.0] * 5, [50.0] * 5))
    sigs = [signal("CCC", "BUY", at[0], 50.0), signal("CCC", "SELL", at[1], 50.0)]
    res = execute(bars, sigs, ExecConfig(100_000.0, Costs(0, 0, 0), RISK))
    assert [d["rule"] for d in res.decisions] == ["approved", "cooldown"]


def test_window_restricts_bars_and_signals() -> None:
    bars = frame(daily_bars("AAA", OPENS, CLOSES))
    sigs = [signal("AAA", "BUY", daily_end(2), 100.0), signal("AAA", "SELL", daily_end(4), 120.0)]
    res = execute(bars, sigs, ExecConfig(100_000.0, Costs(0, 0, 0), RISK),
                  start=daily_end(3), end=daily_end(6))
    assert len(res.equity) == 4
    assert [d["rule"] for d in res.decisions] == ["no_short_selling"]  # the BUY was before it


def test_buy_and_hold_benchmark() -> None:
    a = daily_bars("AAA", [10.0, 11.0, 12.0], [10.0, 11.0, 12.0])
    b = daily_bars("BBB", [20.0, 24.0], [25.0, 30.0], first_day=1)
    bars = frame(a, b)
    grid = bars["time"].drop_duplicates().sort_values()
    bh = buy_and_hold(bars, 1000.0, Costs(0, 0, 0), __import__("pandas").DatetimeIndex(grid))
    # AAA: 500/10 = 50 shares; BBB: its 500 stays cash until its first open (20): 25 shares
    assert list(bh["equity"]) == pytest.approx([50 * 10 + 500, 50 * 11 + 25 * 25, 50 * 12 + 25 * 30])
