"""1-day Value at Risk and Conditional VaR (expected shortfall) of a portfolio, two ways.

The portfolio is what is held at the end of the backtest: a market value per symbol (signed,
quantity x last close) plus cash. Losses are in currency and positive.

* historical: the portfolio revalued with each past day's simple returns of its symbols (days
  on which all of them traded), one scenario per day;
* Monte Carlo: geometric Brownian motion fitted to the daily log returns (mean vector and
  covariance, correlated through a Cholesky factor), `paths` seeded paths; day 1 gives the VaR,
  `horizon_days` of them give the fan chart.

Tail convention, the same for both: with n scenarios and level a (0.95), the tail is the
k = ceil((1 - a) n) largest losses; VaR is the smallest of them (the k-th largest loss) and
CVaR their mean. Intraday data is reduced to each day's last close first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FAN_PERCENTILES = (5, 25, 50, 75, 95)


def tail_count(n: int, level: float) -> int:
    # round() first: (1 - 0.95) * 100 is 5.000000000000004 in floating point
    return max(1, math.ceil(round((1.0 - level) * n, 9)))


def var_cvar(pnl: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """(VaR, CVaR) of P&L scenarios, as positive losses (negative when even the tail gains)."""
    pnl = np.asarray(pnl, float)
    if pnl.size == 0:
        return 0.0, 0.0
    losses = np.sort(-pnl)[::-1]
    k = tail_count(len(losses), level)
    return float(losses[k - 1]), float(losses[:k].mean())


@dataclass(frozen=True)
class Portfolio:
    values: dict[str, float]  # signed market value per symbol
    cash: float

    @property
    def total(self) -> float:
        return self.cash + sum(self.values.values())

    @property
    def held(self) -> list[str]:
        return sorted(s for s, v in self.values.items() if v)


def historical(portfolio: Portfolio, daily_close: pd.DataFrame,
               level: float = 0.95) -> dict[str, Any]:
    held = portfolio.held
    if not held:
        return {"var": 0.0, "cvar": 0.0, "scenarios": 0}
    rets = daily_close[held].pct_change(fill_method=None).iloc[1:].dropna()
    if rets.empty:
        return {"var": None, "cvar": None, "scenarios": 0,
                "note": "no daily return in the data (a single day?)"}
    pnl = rets.to_numpy(float) @ np.array([portfolio.values[s] for s in held])
    var, cvar = var_cvar(pnl, level)
    return {"var": var, "cvar": cvar, "scenarios": int(len(pnl))}


def gbm_paths(values: np.ndarray, mu: np.ndarray, cov: np.ndarray, paths: int, days: int,
              seed: int) -> np.ndarray:
    """Market value of each position along each path: shape (paths, days + 1, symbols)."""
    rng = np.random.default_rng(seed)
    n = len(values)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:  # perfectly correlated or constant series: nudge the diagonal
        chol = np.linalg.cholesky(cov + np.eye(n) * 1e-12)
    z = rng.standard_normal((paths, days, n))
    steps = mu + z @ chol.T
    growth = np.exp(np.concatenate([np.zeros((paths, 1, n)), np.cumsum(steps, axis=1)], axis=1))
    return growth * values


def monte_carlo(portfolio: Portfolio, daily_close: pd.DataFrame, level: float = 0.95,
                paths: int = 1000, horizon_days: int = 20, seed: int = 7) -> dict[str, Any]:
    held = portfolio.held
    days = list(range(horizon_days + 1))
    logr = np.log(daily_close[held]).diff().iloc[1:].dropna() if held else None
    if not held or logr is None or len(logr) < 2:
        flat = [[portfolio.total] * len(days) for _ in FAN_PERCENTILES]
        none = {"var": 0.0, "cvar": 0.0} if not held else {
            "var": None, "cvar": None, "note": "fewer than 2 daily returns: no GBM fit"}
        return {**none, "paths": paths, "seed": seed, "fan": {
            "days": days, "percentiles": list(FAN_PERCENTILES), "values": flat}}
    mu = logr.mean().to_numpy(float)
    cov = np.atleast_2d(logr.cov(ddof=1).to_numpy(float))
    values = np.array([portfolio.values[s] for s in held])
    sim = gbm_paths(values, mu, cov, paths, horizon_days, seed)
    total = portfolio.cash + sim.sum(axis=2)  # (paths, days + 1)
    var, cvar = var_cvar(total[:, 1] - portfolio.total, level)
    fan = np.percentile(total, FAN_PERCENTILES, axis=0)
    return {"var": var, "cvar": cvar, "paths": paths, "seed": seed,
            "drift_daily": dict(zip(held, mu.tolist())),
            "volatility_daily": dict(zip(held, np.sqrt(np.diag(cov)).tolist())),
            "fan": {"days": days, "percentiles": list(FAN_PERCENTILES),
                    "values": fan.tolist()}}


def risk_report(portfolio: Portfolio, daily_close: pd.DataFrame, level: float = 0.95,
                paths: int = 1000, horizon_days: int = 20, seed: int = 7) -> dict[str, Any]:
    return {"level": level, "horizon": "1 day", "portfolio_value": portfolio.total,
            "positions": {s: portfolio.values[s] for s in portfolio.held}, "cash": portfolio.cash,
            "historical": historical(portfolio, daily_close, level),
            "monte_carlo": monte_carlo(portfolio, daily_close, level, paths, horizon_days, seed)}
