"""Walk-forward evaluation: pick rule parameters on the past, judge them only on what follows.

Time (the equity grid: every distinct bar end) is cut into `folds` consecutive test windows.
Before each test window lies an embargo of `embargo` steps and, before that, its train window
(rolling: a fixed length; anchored: from the start of the data). On each train window every
parameter set of a small grid is executed (the same execution as the main backtest) and the
one with the best Sharpe is kept (ties: the earlier grid entry, the strategy.toml values
first); it then trades the test window. Only the test windows are reported, stitched into one
continuous account: when the parameters change at a window boundary, the positions carry on
and the new parameters' signals manage them, as a live switch would.

Why one bounded Flink run per parameter set over the WHOLE period is enough: a signal at bar t
depends only on prices and news with event time <= t (OVER windows from UNBOUNDED PRECEDING to
CURRENT ROW, LAG, and news up to the bar's end), so the signals a run over the whole history
emits up to t are exactly those a run over the data up to t would emit (the prefix property,
tested in tests/backtest/test_prefix.py). Slicing a whole-period run by window therefore never
lets a window see its future; the grid costs one run per parameter set, not one per window.

Embargo: default `horizon_bars` of strategy.toml (30): a trade opened at the end of a train
window is expected to live that long, so the test window starts after it would be over.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tradeflow.contracts import TradingSignal

from .execution import ExecConfig, ExecutionResult, execute
from .metrics import curve_metrics

DEFAULT_GRID: dict[str, list[Any]] = {"rsi_oversold": [30, 35], "rsi_overbought": [70, 65]}


@dataclass(frozen=True)
class Window:
    fold: int
    train: tuple[int, int]  # [start, end) indices into the time grid
    test: tuple[int, int]

    def times(self, grid: pd.DatetimeIndex) -> dict[str, str]:
        return {"train_start": grid[self.train[0]].isoformat(),
                "train_end": grid[self.train[1] - 1].isoformat(),
                "test_start": grid[self.test[0]].isoformat(),
                "test_end": grid[self.test[1] - 1].isoformat()}


def make_windows(steps: int, folds: int = 4, embargo: int = 30, train: int | None = None,
                 test: int | None = None, anchored: bool = False) -> list[Window]:
    """Consecutive, non-overlapping test windows; each train window ends `embargo` steps before
    its test window starts. Default sizes: train = 2 x test, filling the data; the last test
    window takes the steps left over at the end."""
    if folds < 1 or embargo < 0:
        raise ValueError("walk-forward needs folds >= 1 and embargo >= 0")
    if test is None:
        test = (steps - embargo) // (folds + 2) if train is None else (steps - embargo - train) // folds
    if train is None:
        train = 2 * test
    if test < 1 or train < 1 or train + embargo + folds * test > steps:
        raise ValueError(f"{steps} time steps are too few for {folds} folds of train {train} + "
                         f"embargo {embargo} + test {test}")
    first = steps - folds * test  # test windows are packed at the end, the last ends with the data
    out = []
    for k in range(folds):
        t0, t1 = first + k * test, first + (k + 1) * test
        tr1 = t0 - embargo
        tr0 = 0 if anchored else tr1 - train
        out.append(Window(k, (tr0, tr1), (t0, t1)))
    return out


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _score(result: ExecutionResult, bars_per_year: float) -> float:
    if result.equity.empty:
        return float("-inf")
    sharpe = curve_metrics(result.equity["equity"], result.cash, bars_per_year)["sharpe"]
    return float("-inf") if sharpe is None else sharpe


def in_window(signals: Sequence[TradingSignal], start: pd.Timestamp,
              end: pd.Timestamp) -> list[TradingSignal]:
    return [s for s in signals if start <= pd.Timestamp(s.bar_time) <= end]


@dataclass
class WalkForward:
    windows: list[Window]
    grid: list[dict[str, Any]]
    chosen: list[int]  # grid index per fold
    scores: list[list[float]]  # per fold, per grid point: train Sharpe
    result: ExecutionResult  # the stitched test windows
    start: pd.Timestamp
    end: pd.Timestamp

    def to_dict(self, times: pd.DatetimeIndex) -> list[dict[str, Any]]:
        return [{"fold": w.fold, **w.times(times), "params": self.grid[self.chosen[i]],
                 "train_sharpe": {str(j): (s if s != float("-inf") else None)
                                  for j, s in enumerate(self.scores[i])}}
                for i, w in enumerate(self.windows)]


def walk_forward(bars: pd.DataFrame, grid: list[dict[str, Any]],
                 signals: Sequence[Sequence[TradingSignal]], windows: list[Window],
                 cfg: ExecConfig, bars_per_year: float) -> WalkForward:
    """`signals[g]`: the whole-period signals of grid point g."""
    times = pd.DatetimeIndex(sorted(bars["time"].unique()))
    chosen, scores, stitched = [], [], []
    for w in windows:
        tr0, tr1 = times[w.train[0]], times[w.train[1] - 1]
        fold_scores = [_score(execute(bars, in_window(sigs, tr0, tr1), cfg, tr0, tr1),
                              bars_per_year) for sigs in signals]
        best = max(range(len(grid)), key=lambda g: (fold_scores[g], -g))
        chosen.append(best)
        scores.append(fold_scores)
        stitched += in_window(signals[best], times[w.test[0]], times[w.test[1] - 1])
    start, end = times[windows[0].test[0]], times[windows[-1].test[1] - 1]
    result = execute(bars, stitched, cfg, start, end)
    return WalkForward(windows, grid, chosen, scores, result, start, end)
