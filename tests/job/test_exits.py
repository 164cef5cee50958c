"""Where a signal puts its stop and its target (strategy.toml [signals] exit_mode): a fraction of
the close ("percent", the default) or a multiple of the bar's ATR ("atr"), the percent rule while
ATR warms up; and an unknown exit_mode stops everything with a one-line error."""

from __future__ import annotations

import csv
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import talib
from click.testing import CliRunner

from backtest.run import run_backtest
from jobs.sql_loader import StrategyError, flat_params, load_strategy, render_sql
from tradeflow import strategy

from .test_signal_job import read_jsonl

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)
PARAMS = flat_params(load_strategy())
# Longer than the 50 bars the other indicators need before the first signal: the early signals
# fall in ATR's warm-up, the later ones not.
ATR_PERIOD = 150


def ohlc_walk(n: int, seed: int, start: float) -> list[tuple[float, float, float, float]]:
    """(open, high, low, close) bars of a random walk whose ranges vary from bar to bar, with
    gaps between one close and the next open, so that the three true-range terms all win."""
    rng = random.Random(seed)
    bars, close = [], start
    for _ in range(n):
        open_ = close * math.exp(rng.gauss(0, 0.002))
        close = open_ * math.exp(rng.gauss(0, 0.004))
        high = max(open_, close) * (1 + abs(rng.gauss(0, 0.002)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, 0.002)))
        bars.append(tuple(round(x, 4) for x in (open_, high, low, close)))
    return bars


@pytest.fixture(scope="module")
def prices(tmp_path_factory) -> tuple[Path, dict[str, list[tuple[float, float, float, float]]]]:
    series = {sym: ohlc_walk(900, seed, start)
              for sym, seed, start in (("AAA", 21, 100.0), ("BBB", 22, 40.0), ("CCC", 23, 250.0),
                                       ("DDD", 24, 12.0))}
    path = tmp_path_factory.mktemp("exits") / "prices.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "timestamp", "open", "high", "low", "close", "volume"])
        for sym, bars in series.items():
            for i, (o, h, lo, c) in enumerate(bars):
                t = (T0 + timedelta(minutes=i + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                w.writerow([sym, t, o, h, lo, c, 1000])
    return path, series


def talib_atr(series, period: int) -> dict[tuple[str, datetime], float]:
    """TA-Lib's ATR of every bar, by (symbol, bar end)."""
    out = {}
    for sym, bars in series.items():
        _, high, low, close = (np.array(col, dtype=float) for col in zip(*bars))
        for i, value in enumerate(talib.ATR(high, low, close, period)):
            out[(sym, T0 + timedelta(minutes=i + 1))] = value
    return out


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def percent_exits(s: dict) -> tuple[float, float]:
    c, sl, tp = s["price"], PARAMS["stop_loss_pct"], PARAMS["take_profit_pct"]
    return (c * (1 - sl), c * (1 + tp)) if s["action"] == "BUY" else (c * (1 + sl), c * (1 - tp))


def atr_exits(s: dict, atr: float) -> tuple[float, float]:
    c, k_stop, k_target = s["price"], PARAMS["stop_loss_atr"], PARAMS["take_profit_atr"]
    return (c - k_stop * atr, c + k_target * atr) if s["action"] == "BUY" \
        else (c + k_stop * atr, c - k_target * atr)


@pytest.mark.flink
def test_atr_exits_are_close_plus_minus_k_atr_and_percent_in_warm_up(prices, tmp_path):
    path, series = prices
    run_backtest([path], [], tmp_path, params={"exit_mode": "atr", "atr_period": ATR_PERIOD})
    signals = read_jsonl(tmp_path / "signals.jsonl")
    reference = talib_atr(series, ATR_PERIOD)
    warm_up = with_atr = 0
    for s in signals:
        atr = reference[(s["symbol"], when(s["bar_time"]))]
        if math.isnan(atr):  # still warming up: no ATR, the percent rule
            warm_up += 1
            assert s["indicators"]["atr_14"] is None
            want = percent_exits(s)
        else:
            with_atr += 1
            # the column keeps its contract name whatever the period behind it
            assert s["indicators"]["atr_14"] == pytest.approx(atr, rel=1e-12)
            want = atr_exits(s, atr)
        assert (s["stop_loss"], s["take_profit"]) == pytest.approx(want, rel=1e-12), s
        assert (s["stop_loss"] < s["price"] < s["take_profit"]) if s["action"] == "BUY" else \
            (s["take_profit"] < s["price"] < s["stop_loss"])
    assert warm_up >= 5 and with_atr >= 20, (warm_up, with_atr)
    assert {s["action"] for s in signals} == {"BUY", "SELL"}


@pytest.mark.flink
def test_percent_exits_by_default_with_atr_14_reported(prices, tmp_path):
    """strategy.toml as it is: today's percent rule, and the signal's indicators carry ATR(14)."""
    assert PARAMS["exit_mode"] == "percent" and PARAMS["atr_period"] == 14
    path, series = prices
    run_backtest([path], [], tmp_path)
    signals = read_jsonl(tmp_path / "signals.jsonl")
    assert len(signals) > 20
    reference = talib_atr(series, 14)
    for s in signals:
        assert (s["stop_loss"], s["take_profit"]) == pytest.approx(percent_exits(s), rel=1e-12)
        assert s["indicators"]["atr_14"] == pytest.approx(
            reference[(s["symbol"], when(s["bar_time"]))], rel=1e-12)
    # the per-bar output carries it too, NULL in the warm-up
    rows = read_jsonl(tmp_path / "indicators.jsonl")
    assert len(rows) == len(reference)
    for r in rows:
        want = reference[(r["symbol"], when(r["timestamp"]))]
        assert r["atr_14"] is None if math.isnan(want) else r["atr_14"] == pytest.approx(want, rel=1e-12)


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_unknown_exit_mode_is_a_one_line_error(tmp_path):
    toml = (strategy.STRATEGY_PATH.read_text()
            .replace('exit_mode = "percent"', 'exit_mode = "bogus"'))
    assert 'exit_mode = "bogus"' in toml
    (tmp_path / "strategy.toml").write_text(toml)
    with pytest.raises(StrategyError) as err:
        flat_params(load_strategy(tmp_path / "strategy.toml"))
    assert _one_line(err.value) == \
        "strategy parameter exit_mode must be one of 'percent', 'atr', got 'bogus'"
    # an override (a backtest's params, a walk-forward grid) is checked too
    with pytest.raises(StrategyError, match="exit_mode must be one of 'percent', 'atr'") as err:
        render_sql("signals.sql", {**PARAMS, "exit_mode": "ATR"})
    _one_line(err.value)
    with pytest.raises(StrategyError, match="stop_loss_atr must be a positive number") as err:
        render_sql("signals.sql", {**PARAMS, "stop_loss_atr": -1})
    _one_line(err.value)


def test_unknown_exit_mode_stops_the_backtest_command_with_one_line(tmp_path, monkeypatch):
    """Before any Flink starts: what `tradeflow backtest` prints is the error, one line."""
    from backtest.cli import backtest

    toml = strategy.STRATEGY_PATH.read_text().replace('exit_mode = "percent"', 'exit_mode = "bogus"')
    (tmp_path / "strategy.toml").write_text(toml)
    monkeypatch.setattr(strategy, "STRATEGY_PATH", tmp_path / "strategy.toml")
    (tmp_path / "prices.csv").write_text(
        "symbol,timestamp,open,high,low,close,volume\nAAA,2024-01-02T14:31:00Z,1,1,1,1,1\n")
    result = CliRunner().invoke(backtest, ["--prices", str(tmp_path / "prices.csv"),
                                           "--out", str(tmp_path / "out"), "--signals-only"])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        "Error: strategy parameter exit_mode must be one of 'percent', 'atr', got 'bogus'"]
