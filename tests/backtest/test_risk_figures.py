"""VaR and CVaR on known distributions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backtest.risk_figures import Portfolio, gbm_paths, historical, monte_carlo, var_cvar


def test_tail_of_a_known_sample() -> None:
    pnl = np.arange(-50.0, 50.0)  # 100 scenarios, losses 50, 49, ... : tail of 5
    var, cvar = var_cvar(pnl, 0.95)
    assert var == 46.0
    assert cvar == pytest.approx((50 + 49 + 48 + 47 + 46) / 5)
    assert var_cvar(np.arange(-50.0, 50.0), 0.99) == (50.0, 50.0)


def test_historical_applies_past_daily_returns_to_the_portfolio() -> None:
    # 21 closes -> 20 daily returns: -10%, -9%, ..., +9%; tail of 1 at 95%
    rets = np.arange(-10, 10) / 100
    closes = 100 * np.concatenate([[1.0], np.cumprod(1 + rets)])
    daily = pd.DataFrame({"AAA": closes})
    h = historical(Portfolio({"AAA": 2000.0}, 500.0), daily, 0.95)
    assert h["scenarios"] == 20
    assert h["var"] == pytest.approx(200.0) and h["cvar"] == pytest.approx(200.0)
    h90 = historical(Portfolio({"AAA": 2000.0}, 500.0), daily, 0.90)  # worst two: -10%, -9%
    assert h90["var"] == pytest.approx(180.0) and h90["cvar"] == pytest.approx(190.0)
    short = historical(Portfolio({"AAA": -2000.0}, 5000.0), daily, 0.95)  # a short loses on +9%
    assert short["var"] == pytest.approx(180.0)


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_gbm_var_and_cvar_match_the_lognormal_formulas() -> None:
    sigma, value, z95 = 0.02, 1000.0, 1.6448536269514722
    paths = gbm_paths(np.array([value]), np.array([0.0]), np.array([[sigma ** 2]]), 400_000, 1, seed=1)
    pnl = paths[:, 1, 0] - value
    var, cvar = var_cvar(pnl, 0.95)
    # VaR: value x (1 - exp(-z sigma)); CVaR: value x (1 - E[e^X | X < -z sigma])
    want_var = value * (1 - math.exp(-z95 * sigma))
    want_cvar = value * (1 - math.exp(sigma ** 2 / 2) * _phi(-z95 - sigma) / 0.05)
    assert var == pytest.approx(want_var, rel=0.01)
    assert cvar == pytest.approx(want_cvar, rel=0.01)


def test_monte_carlo_is_seeded_and_flat_portfolio_has_no_risk() -> None:
    rng = np.random.default_rng(3)
    daily = pd.DataFrame({"AAA": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300))),
                          "BBB": 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))})
    port = Portfolio({"AAA": 3000.0, "BBB": 1000.0}, 6000.0)
    a, b = monte_carlo(port, daily, paths=1000, seed=7), monte_carlo(port, daily, paths=1000, seed=7)
    assert a["var"] == b["var"] and a["var"] > 0 and a["cvar"] >= a["var"]
    fan = np.array(a["fan"]["values"])
    assert fan.shape == (5, 21) and np.allclose(fan[:, 0], 10_000.0)
    assert (np.diff(fan, axis=0) >= 0).all()  # percentiles ordered
    flat = monte_carlo(Portfolio({}, 10_000.0), daily)
    assert flat["var"] == 0.0 and flat["cvar"] == 0.0
