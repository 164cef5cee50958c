"""Performance metrics of an equity curve and its trades, and the buy-and-hold benchmark.

Conventions (every figure is tested against a hand computation in tests/backtest/test_metrics.py):

* The curve is marked at every step of the equity grid (each bar end); it starts from the
  initial capital `start`, so step k's return is E_k / E_{k-1} - 1 with E_0 = start, and a curve
  of n points has n returns.
* Annualisation: `bars_per_year` steps make a year (data.bars_per_year: 252 for daily bars,
  252 x bars per trading day for intraday bars). Annualised return = (E_n / E_0)^(bpy / n) - 1.
* Sharpe = mean(r) / std(r, ddof=1) x sqrt(bpy), risk-free rate 0.
* Sortino = mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(bpy): downside deviation against 0 over all
  steps.
* Max drawdown = max_k (1 - E_k / max_{j<=k} E_j), a fraction; its duration runs from the peak
  before the trough to the first step back at or above that peak (or to the end, `recovered`
  false), in steps and in calendar days.
* Calmar = annualised return / max drawdown.
* Trades: closed round trips only for win rate (pnl > 0), profit factor (gross profit / gross
  loss) and the averages; open ones are counted apart. Exposure = share of steps with any
  position; average gross exposure = mean of |positions| / equity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeflow.trading.exits import EXIT_REASONS, Trade

from .data import finite
from .execution import Costs


def returns(curve: pd.Series, start: float) -> np.ndarray:
    values = np.concatenate([[start], curve.to_numpy(float)])
    return values[1:] / values[:-1] - 1.0


def drawdown(curve: pd.Series, start: float) -> pd.Series:
    """1 - E / running peak, per step (the start counts as the first peak)."""
    values = np.concatenate([[start], curve.to_numpy(float)])
    peak = np.maximum.accumulate(values)
    return pd.Series(1.0 - values[1:] / peak[1:], index=curve.index)


def max_drawdown(curve: pd.Series, start: float) -> dict[str, Any]:
    values = np.concatenate([[start], curve.to_numpy(float)])
    peak = np.maximum.accumulate(values)
    dd = 1.0 - values / peak
    trough = int(np.argmax(dd))
    mdd = float(dd[trough])
    if mdd <= 0:
        return {"max_drawdown": 0.0, "max_drawdown_duration_bars": 0,
                "max_drawdown_duration_days": 0.0, "max_drawdown_peak": None,
                "max_drawdown_trough": None, "max_drawdown_recovered": True}
    top = int(np.flatnonzero(values[: trough + 1] == peak[trough])[0])
    after = np.flatnonzero(values[trough:] >= peak[trough])
    recovered = after.size > 0
    end = trough + int(after[0]) if recovered else len(values) - 1
    def step_time(step: int) -> pd.Timestamp:  # the start (step 0) sits at the first step's time
        return curve.index[max(step - 1, 0)]

    return {"max_drawdown": mdd, "max_drawdown_duration_bars": end - top,
            "max_drawdown_duration_days": (step_time(end) - step_time(top)).total_seconds() / 86_400,
            "max_drawdown_peak": step_time(top).isoformat(),
            "max_drawdown_trough": step_time(trough).isoformat(),
            "max_drawdown_recovered": recovered}


def curve_metrics(curve: pd.Series, start: float, bars_per_year: float) -> dict[str, Any]:
    r = returns(curve, start)
    n = len(r)
    total = float(curve.iloc[-1] / start - 1.0) if n else 0.0
    annual = (1.0 + total) ** (bars_per_year / n) - 1.0 if n and total > -1 else -1.0
    sd = float(np.std(r, ddof=1)) if n > 1 else 0.0
    mean = float(np.mean(r)) if n else 0.0
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) if n else 0.0
    dd = max_drawdown(curve, start)
    out = {
        "start_equity": start, "end_equity": float(curve.iloc[-1]) if n else start, "bars": n,
        "total_return": total, "annualised_return": annual,
        "volatility_annualised": sd * math.sqrt(bars_per_year) if n > 1 else None,
        "sharpe": mean / sd * math.sqrt(bars_per_year) if sd > 0 else None,
        "sortino": mean / downside * math.sqrt(bars_per_year) if downside > 0 else None,
        **dd,
        "calmar": annual / dd["max_drawdown"] if dd["max_drawdown"] > 0 else None,
    }
    return {k: finite(v) if isinstance(v, float) else v for k, v in out.items()}


def trade_metrics(trades: Sequence[Trade]) -> dict[str, Any]:
    closed = [t for t in trades if not t.open]
    pnl = np.array([t.pnl for t in closed], float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_loss = float(-losses.sum())
    return {
        "trades": len(closed),
        "open_trades": sum(1 for t in trades if t.open),
        "win_rate": float(len(wins) / len(closed)) if closed else None,
        "profit_factor": float(wins.sum() / gross_loss) if gross_loss > 0 else None,
        "average_trade_pnl": float(pnl.mean()) if closed else None,
        "average_trade_return": float(np.mean([t.return_pct for t in closed])) if closed else None,
        "gross_profit": float(wins.sum()), "gross_loss": gross_loss,
        "fees": float(sum(t.fees for t in trades)),
        "average_bars_held": float(np.mean([t.bars_held for t in closed])) if closed else None,
        "by_exit_reason": {
            reason: {"trades": len(ts), "pnl": float(sum(t.pnl or 0.0 for t in ts)),
                     "win_rate": float(np.mean([(t.pnl or 0.0) > 0 for t in ts])),
                     "average_return": float(np.mean([t.return_pct or 0.0 for t in ts])),
                     "average_bars_held": float(np.mean([t.bars_held for t in ts]))}
            for reason in EXIT_REASONS
            if (ts := [t for t in closed if t.exit_reason == reason])},
    }


def exposure_metrics(equity: pd.DataFrame) -> dict[str, Any]:
    if equity.empty:
        return {"exposure": 0.0, "average_gross_exposure": 0.0}
    return {"exposure": float((equity["gross_exposure"] > 0).mean()),
            "average_gross_exposure": float((equity["gross_exposure"] / equity["equity"]).mean())}


def buy_and_hold_entries(bars: pd.DataFrame, cash: float, costs: Costs) -> pd.DataFrame:
    """Per symbol (sorted): `time` and `open` of its first bar in `bars`, `close` of its last, and
    the `shares` an equal part of `cash` buys at that open (same slippage and fees as the
    strategy, fractional shares); `alloc` is that part."""
    # bars are in time order: a symbol's first and last rows are its first and last bars
    entries = bars.drop_duplicates("symbol", keep="first").set_index("symbol").sort_index()
    last = bars.drop_duplicates("symbol", keep="last").set_index("symbol")["close"]
    alloc = cash / len(entries)
    paid = entries["open"] * (1 + costs.slippage_bps / 10_000)
    shares = max(alloc - costs.fee_per_order, 0.0) / (paid * (1 + costs.fee_bps / 10_000))
    return pd.DataFrame({"time": entries["time"], "open": entries["open"],
                         "close": last.reindex(entries.index), "shares": shares, "alloc": alloc})


def buy_and_hold(bars: pd.DataFrame, cash: float, costs: Costs,
                 grid: pd.DatetimeIndex) -> pd.DataFrame:
    """Equal cash per symbol, bought at its first open in the period and held (see
    `buy_and_hold_entries`); marked at the last close on the strategy's grid."""
    entries = buy_and_hold_entries(bars, cash, costs)
    closes = bars.pivot(index="time", columns="symbol", values="close").reindex(grid).ffill()
    value = pd.Series(0.0, index=grid)
    gross = pd.Series(0.0, index=grid)
    for sym, e in entries.iterrows():
        held = grid >= e["time"]
        worth = (e["shares"] * closes[sym]).where(held, e["alloc"]).fillna(e["alloc"])
        value += worth
        gross += worth.where(held, 0.0)
    return pd.DataFrame({"equity": value, "gross_exposure": gross}, index=grid)


def return_at_exposure(equity: pd.Series, fraction: float) -> float:
    """Total return of holding `fraction` of equity in what `equity` is, the rest in cash,
    rebalanced every step: the benchmark at the strategy's average exposure."""
    steps = equity.pct_change().dropna()
    return float((1 + fraction * steps).prod() - 1)


def summary(equity: pd.DataFrame, start: float, bars_per_year: float,
            trades: Sequence[Trade] | None = None) -> dict[str, Any]:
    out = curve_metrics(equity["equity"], start, bars_per_year)
    out.update(exposure_metrics(equity))
    if trades is not None:
        out.update(trade_metrics(trades))
    return out
