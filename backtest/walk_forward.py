"""Walk-forward evaluation: pick rule parameters on the past, judge them only on what follows.

Time (the equity grid: every distinct bar end) is cut into `folds` consecutive test windows.
Before each test window lies an embargo of `embargo` steps and, before that, its train window
(rolling: a fixed length; anchored: from the start of the data). On each train window every
parameter set of a small grid is executed (the same execution as the main backtest) and the
one with the best objective is kept (Sharpe unless told otherwise, see OBJECTIVES; ties: the
earlier grid entry, the strategy.toml values first); it then trades the test window. Only the
test windows are reported, stitched into one continuous account: when the parameters change at
a window boundary, the positions carry on and the new parameters' signals manage them, as a
live switch would.

Why one bounded run of each parameter set over the WHOLE period is enough: a signal at bar t
depends only on prices and news with event time <= t (OVER windows from UNBOUNDED PRECEDING to
CURRENT ROW, LAG, and news up to the bar's end), so the signals a run over the whole history
emits up to t are exactly those a run over the data up to t would emit (the prefix property,
tested in tests/backtest/test_prefix.py). Slicing a whole-period run by window therefore never
lets a window see its future; the grid costs one run per parameter set, not one per window.

Embargo: default `horizon_bars` of strategy.toml (30): a trade opened at the end of a train
window is expected to live that long, so the test window starts after it would be over.

Purging: a train window's score uses nothing after the window's end. Its execution sees only
the window's bars (a position still open at the end is marked at the window's last close, not
carried on), and the IC objective measures only the signals whose own horizon ends inside the
window: the forward returns are computed on the window's bars alone, so a signal with fewer than
`horizon_bars` of its symbol's bars left in the window has no return there and does not count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pandas as pd

from tradeflow.contracts import TradingSignal

from .execution import ExecConfig, ExecutionResult, execute
from .metrics import curve_metrics, trade_metrics
from .signal_quality import forward_returns, own_horizon



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


def in_window(signals: Sequence[TradingSignal], start: pd.Timestamp,
              end: pd.Timestamp) -> list[TradingSignal]:
    return [s for s in signals if start <= pd.Timestamp(s.bar_time) <= end]


def window_bars(bars: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return bars[(bars["time"] >= start) & (bars["time"] <= end)]


class WindowRun:
    """One parameter set's signals traded and measured on one window [start, end] (inclusive),
    from the starting cash, seeing nothing after `end` (module doc: purging). Computed on demand:
    an objective that needs only the signals never executes them."""

    def __init__(self, bars: pd.DataFrame, signals: Sequence[TradingSignal], start: pd.Timestamp,
                 end: pd.Timestamp, cfg: ExecConfig, bars_per_year: float) -> None:
        self.all_bars, self.start, self.end = bars, start, end
        self.signals = in_window(signals, start, end)
        self.cfg, self.bars_per_year = cfg, bars_per_year

    @cached_property
    def bars(self) -> pd.DataFrame:
        return window_bars(self.all_bars, self.start, self.end)

    @cached_property
    def result(self) -> ExecutionResult:
        # all the bars, not the window's: execute slices them itself, and judges daily vs
        # intraday on the whole series as the main backtest does
        return execute(self.all_bars, self.signals, self.cfg, self.start, self.end)

    @cached_property
    def curve(self) -> dict[str, Any]:
        eq = self.result.equity
        return curve_metrics(eq["equity"], self.result.cash, self.bars_per_year) if len(eq) else {}

    @cached_property
    def forward(self) -> pd.DataFrame:
        """forward_returns on the window's bars only; `start`/`end*` are positions on the
        window's own time grid."""
        return forward_returns(self.bars, self.signals)

    @cached_property
    def quality(self) -> dict[str, Any]:
        """Hit rate, IC and their t at each signal's own horizon, of the signals measurable
        inside the window."""
        return own_horizon(self.forward)["all"]


Objective = Callable[[WindowRun], float]  # higher is better; -inf when undefined
INF = float("inf")
# Fewer closed trades than this in a train window rank nothing by profit factor or Calmar: one
# lucky trade would score "unboundedly good" and win the fold.
MIN_TRADES = 10


def _defined(value: float | None) -> float:
    return -INF if value is None else float(value)


def sharpe(run: WindowRun) -> float:
    return _defined(run.curve.get("sharpe"))


def calmar(run: WindowRun) -> float:
    """Annualised return / max drawdown; without a drawdown, a gain is unboundedly good and a flat
    curve (no trade) undefined."""
    c = run.curve
    if not c or sum(not t.open for t in run.result.trades) < MIN_TRADES:
        return -INF
    if c["calmar"] is None:
        return INF if c["total_return"] > 0 else -INF
    return float(c["calmar"])


def profit_factor(run: WindowRun) -> float:
    """Gross profit / gross loss of the closed trades; gains without a loss are unboundedly good,
    no gain and no loss (no closed trade) undefined."""
    t = trade_metrics(run.result.trades)
    if t["trades"] < MIN_TRADES:
        return -INF
    if t["profit_factor"] is None:
        return INF if t["gross_profit"] > 0 else -INF
    return float(t["profit_factor"])


def information_coefficient(run: WindowRun) -> float:
    """Spearman IC of direction vs return at each signal's own horizon, purged (module doc)."""
    return _defined(run.quality["ic"])


OBJECTIVES: dict[str, Objective] = {"sharpe": sharpe, "profit_factor": profit_factor,
                                    "ic": information_coefficient, "calmar": calmar}


def score_json(score: float) -> float | str | None:
    """A score as JSON holds it: None when undefined (-inf), "inf" when unbounded."""
    if math.isinf(score):
        return "inf" if score > 0 else None
    return score


@dataclass
class WalkForward:
    windows: list[Window]
    grid: list[dict[str, Any]]
    chosen: list[int]  # grid index per fold
    scores: list[list[float]]  # per fold, per grid point: the train window's objective
    result: ExecutionResult  # the stitched test windows
    start: pd.Timestamp
    end: pd.Timestamp
    objective: str = "sharpe"

    def to_dict(self, times: pd.DatetimeIndex) -> list[dict[str, Any]]:
        return [{"fold": w.fold, **w.times(times), "params": self.grid[self.chosen[i]],
                 f"train_{self.objective}": {str(j): score_json(s)
                                             for j, s in enumerate(self.scores[i])}}
                for i, w in enumerate(self.windows)]


def best(scores: Sequence[float]) -> int:
    """The grid index with the highest score; ties go to the earlier grid entry."""
    return max(range(len(scores)), key=lambda g: (scores[g], -g))


def walk_forward(bars: pd.DataFrame, grid: list[dict[str, Any]],
                 signals: Sequence[Sequence[TradingSignal]], windows: list[Window],
                 cfg: ExecConfig, bars_per_year: float, objective: str = "sharpe") -> WalkForward:
    """`signals[g]`: the whole-period signals of grid point g; `objective`: a key of OBJECTIVES."""
    score = OBJECTIVES[objective]
    times = pd.DatetimeIndex(sorted(bars["time"].unique()))
    chosen, scores, stitched = [], [], []
    for w in windows:
        tr0, tr1 = times[w.train[0]], times[w.train[1] - 1]
        fold_scores = [score(WindowRun(bars, sigs, tr0, tr1, cfg, bars_per_year))
                       for sigs in signals]
        chosen.append(best(fold_scores))
        scores.append(fold_scores)
        stitched += in_window(signals[chosen[-1]], times[w.test[0]], times[w.test[1] - 1])
    start, end = times[windows[0].test[0]], times[windows[-1].test[1] - 1]
    result = execute(bars, stitched, cfg, start, end)
    return WalkForward(windows, grid, chosen, scores, result, start, end, objective)
