"""Every metric against a hand computation."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from tradeflow.trading.exits import Trade
from backtest.metrics import curve_metrics, drawdown, exposure_metrics, trade_metrics

T0 = datetime(2024, 3, 4, 21, tzinfo=timezone.utc)


def curve(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.DatetimeIndex([T0 + timedelta(days=i) for i in range(len(values))]))


def test_curve_metrics_by_hand() -> None:
    # start 100, then 110, 99, 118.8: returns +10%, -10%, +20%
    m = curve_metrics(curve([110.0, 99.0, 118.8]), 100.0, 252)
    assert m["total_return"] == pytest.approx(0.188)
    # mean 1/15, sample sd sqrt(0.07/3): Sharpe = 4*sqrt(3) exactly with 252 bars a year
    assert m["sharpe"] == pytest.approx(4 * math.sqrt(3))
    # downside deviation sqrt(0.01/3): Sortino = (1/15)/sqrt(0.01/3)*sqrt(252) = 2*sqrt(84)
    assert m["sortino"] == pytest.approx(2 * math.sqrt(84))
    assert m["volatility_annualised"] == pytest.approx(math.sqrt(0.07 / 3) * math.sqrt(252))
    # from the peak 110 to 99
    assert m["max_drawdown"] == pytest.approx(0.1)
    assert m["max_drawdown_duration_bars"] == 2  # peak at step 1, back above it at step 3
    assert m["max_drawdown_duration_days"] == pytest.approx(2.0)
    assert m["max_drawdown_recovered"] is True


def test_annualised_return_and_calmar() -> None:
    # 3 steps with 6 steps a year: half a year, so the year compounds it twice
    m = curve_metrics(curve([110.0, 99.0, 118.8]), 100.0, 6)
    assert m["annualised_return"] == pytest.approx(1.188 ** 2 - 1)
    assert m["calmar"] == pytest.approx((1.188 ** 2 - 1) / 0.1)
    assert m["sharpe"] == pytest.approx((1 / 15) / math.sqrt(0.07 / 3) * math.sqrt(6))


def test_unrecovered_drawdown_runs_to_the_end() -> None:
    m = curve_metrics(curve([120.0, 90.0, 100.0, 96.0]), 100.0, 252)
    assert m["max_drawdown"] == pytest.approx(0.25)
    assert m["max_drawdown_duration_bars"] == 3
    assert m["max_drawdown_recovered"] is False
    assert list(drawdown(curve([120.0, 90.0, 100.0, 96.0]), 100.0)) == pytest.approx(
        [0, 0.25, 1 - 100 / 120, 0.2])


def test_flat_curve_has_no_ratios() -> None:
    m = curve_metrics(curve([100.0, 100.0]), 100.0, 252)
    assert m["total_return"] == 0 and m["max_drawdown"] == 0
    assert m["sharpe"] is None and m["sortino"] is None and m["calmar"] is None


def _trade(pnl: float, open_: bool = False, reason: str = "horizon") -> Trade:
    """A long of 10 at 100 with fees 0.5 + 0.5, closed (or marked) to make `pnl` net."""
    return Trade("s", "tf-s", "AAA", "long", 10, 100.0, T0, T0, None, None, 3, bars_held=3,
                 entry_fee=0.5, exit_fee=0.5, exit_price=100 + (pnl + 1.0) / 10, exit_time=T0,
                 exit_reason=None if open_ else reason)


def test_trade_metrics_by_hand() -> None:
    m = trade_metrics([_trade(100), _trade(-50), _trade(30), _trade(-20), _trade(999, open_=True)])
    assert m["trades"] == 4 and m["open_trades"] == 1
    assert m["win_rate"] == pytest.approx(0.5)
    assert m["profit_factor"] == pytest.approx(130 / 70)
    assert m["average_trade_pnl"] == pytest.approx(15.0)
    assert m["average_trade_return"] == pytest.approx(0.015)
    assert m["fees"] == pytest.approx(5.0)
    assert trade_metrics([_trade(10)])["profit_factor"] is None  # no loser: undefined, not inf


def test_trade_metrics_by_exit_reason() -> None:
    by = trade_metrics([_trade(100, reason="take_profit"), _trade(-50, reason="stop_loss"),
                        _trade(-30, reason="stop_loss"), _trade(5, open_=True)])["by_exit_reason"]
    assert list(by) == ["stop_loss", "take_profit"]
    assert by["stop_loss"]["trades"] == 2 and by["stop_loss"]["pnl"] == pytest.approx(-80.0)
    assert by["take_profit"]["win_rate"] == 1.0 and by["stop_loss"]["win_rate"] == 0.0


def test_exposure_by_hand() -> None:
    eq = pd.DataFrame({"equity": [100.0, 100.0, 200.0, 100.0],
                       "gross_exposure": [0.0, 50.0, 50.0, 0.0]})
    m = exposure_metrics(eq)
    assert m["exposure"] == pytest.approx(0.5)
    assert m["average_gross_exposure"] == pytest.approx((0 + 0.5 + 0.25 + 0) / 4)


def test_buy_and_hold_at_a_fraction_of_equity_rebalances_every_step():
    from backtest.metrics import return_at_exposure

    equity = pd.Series([100.0, 110.0, 99.0])  # +10 %, then -10 %
    assert return_at_exposure(equity, 1.0) == pytest.approx(-0.01)
    assert return_at_exposure(equity, 0.5) == pytest.approx(1.05 * 0.95 - 1)
    assert return_at_exposure(equity, 0.0) == 0.0
