"""`tradeflow optimize`: walk-forward optimisation reported on its out-of-sample windows only.

The machinery is walk_forward.py's (windows, embargo, purging, the objectives, the stitched test
account); this module runs every grid point over the whole period (bounded; the points share one
job per worker, workers.run_jobs; exact by the prefix property, see walk_forward.py), then writes
DIR/optimize.json and DIR/optimize.md:

* per fold: the train and test dates, the parameters chosen on the train window and the train
  objective that chose them (the only place a train figure appears: it is the reason for the
  choice, not a result), and the test window's own figures, traded from the starting cash;
* the stitched test windows (one account, positions carried across folds) beside buy and hold
  over the same bars, whole and at the strategy's average exposure;
* parameter stability: per grid parameter, the value chosen per fold, the most frequent value
  and its share of folds, and how often the choice changed from one fold to the next.

A grid, not a sampler (Optuna and the like): a few points per parameter is what a handful of
folds can tell apart, and it keeps the dependencies lean.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from tradeflow.contracts import TradingSignal, to_wire_time

from . import metrics
from .data import Annualisation, bars_frame, bars_per_year, is_daily
from .evaluate import json_default, metric_block
from .grid import DEFAULT_GRID, default_params, grid_points
from .execution import ExecConfig
from .report import fmt
from .run import load_signals, prepare_inputs
from .signal_quality import own_horizon
from .workers import run_jobs
from .walk_forward import (OBJECTIVES, WalkForward, Window, WindowRun, make_windows, score_json,
                           walk_forward)

TEST_FIGURES = ("total_return", "sharpe", "max_drawdown", "profit_factor", "trades", "open_trades")
QUALITY_FIGURES = ("signals", "ic", "ic_t", "hit_rate", "hit_rate_t")
OBJECTIVE_NAMES = {"sharpe": "Sharpe", "profit_factor": "profit factor",
                   "ic": "IC at own horizon", "calmar": "Calmar"}


@dataclass
class OptimizeOptions:
    exec: ExecConfig = field(default_factory=ExecConfig)
    grid: dict[str, list[Any]] = field(default_factory=lambda: dict(DEFAULT_GRID))
    params: dict[str, Any] = field(default_factory=dict)  # strategy.toml overrides, every run
    objective: str = "sharpe"
    folds: int = 4
    embargo: int | None = None  # None: the longest horizon_bars of the grid points
    anchored: bool = False
    max_parallel: int = 2
    parallelism: int = 1
    keep_work: bool = False


def windows_for(times: pd.DatetimeIndex, opts: OptimizeOptions, embargo: int) -> list[Window]:
    try:
        return make_windows(len(times), opts.folds, embargo, anchored=opts.anchored)
    except ValueError as err:
        raise ValueError(f"{err} (the data has {len(times)} bar times; use fewer --folds or a "
                         f"smaller --embargo)") from None


def _run_grid(topics: Path, work: Path, points: list[dict[str, Any]],
              opts: OptimizeOptions) -> list[list[TradingSignal]]:
    """Every distinct grid point run bounded; the signals of each grid point."""
    distinct: list[dict[str, Any]] = []
    for p in points:
        if p not in distinct:
            distinct.append(p)
    dirs = run_jobs(topics, work, distinct, indicators_for=None, max_parallel=opts.max_parallel,
                    parallelism=opts.parallelism)
    signals = [load_signals(d)[0] for d in dirs]
    return [signals[distinct.index(p)] for p in points]


def on_grid(fwd: pd.DataFrame, offset: int) -> pd.DataFrame:
    """A window's forward returns with their positions moved from the window's own time grid to
    the whole period's, so that windows can be measured together (overlaps stay overlaps)."""
    fwd = fwd.copy()
    for col in [c for c in fwd.columns if c == "start" or c.startswith("end")]:
        fwd[col] = fwd[col].where(fwd[col] < 0, fwd[col] + offset)
    return fwd


def window_figures(run: WindowRun) -> dict[str, Any]:
    """A test window's own result: its account from the starting cash and its signals' value."""
    s = metrics.summary(run.result.equity, run.result.cash, run.bars_per_year, run.result.trades)
    return {**{k: s.get(k) for k in TEST_FIGURES}, **{k: run.quality[k] for k in QUALITY_FIGURES}}


def stability(names: Sequence[str], chosen: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per parameter: its value per fold, the most frequent (ties: the first chosen), the share
    of folds choosing it and how often the choice changed between consecutive folds."""
    out = {}
    for name in names:
        values = [c[name] for c in chosen]
        top, count = Counter(values).most_common(1)[0]
        out[name] = {"per_fold": values, "most_frequent": top, "share": count / len(values),
                     "changes": sum(a != b for a, b in zip(values, values[1:]))}
    return out


def default_embargo(points: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any]) -> int:
    """The longest horizon any grid point holds a trade: a train window's last trade is over
    before its test window starts, whichever point was chosen."""
    return max(int(p.get("horizon_bars", defaults["horizon_bars"])) for p in points)


def optimize(prices: Sequence[Path], news: Sequence[Path], out: Path,
             opts: OptimizeOptions | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The whole optimisation; writes DIR/optimize.json and DIR/optimize.md, returns the former's
    content. ValueError for what the user can fix (names, values, too little data)."""
    opts = opts or OptimizeOptions()
    say = progress or (lambda _: None)
    if opts.objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {opts.objective!r}: one of {', '.join(OBJECTIVES)}")
    defaults = default_params()
    points = grid_points(opts.grid, opts.params, defaults)
    embargo = opts.embargo if opts.embargo is not None else default_embargo(points, defaults)
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    inputs = prepare_inputs(prices, news, out, work)
    bars = bars_frame(inputs.bars)
    if bars.empty:
        raise ValueError("no valid bars in the price files (see dead-letter.jsonl)")
    times = pd.DatetimeIndex(sorted(bars["time"].unique()))
    windows = windows_for(times, opts, embargo)  # before the Flink runs: too little data fails fast
    say(f"{len(bars):,} bars; {len(points)} grid points, {opts.folds} folds: the bounded runs "
        f"(one Flink job per worker, {opts.max_parallel} workers)...")
    signals = _run_grid(inputs.topics, work, points, opts)
    ann = bars_per_year(bars)
    say(f"choosing on train windows by {opts.objective}, trading the test windows...")
    wf = walk_forward(bars, points, signals, windows, opts.exec, ann.bars_per_year,
                      opts.objective)
    tests = _test_runs(wf, bars, times, signals, opts.exec, ann)
    report = {**_setup(prices, news, bars, times, ann, opts, embargo, points),
              "folds": _folds(wf, times, tests),
              "out_of_sample": _out_of_sample(wf, bars, tests, opts.exec, ann),
              "stability": stability(list(opts.grid), [points[g] for g in wf.chosen])}
    _write(out, report)
    if not opts.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _setup(prices: Sequence[Path], news: Sequence[Path], bars: pd.DataFrame,
           times: pd.DatetimeIndex, ann: Annualisation, opts: OptimizeOptions, embargo: int,
           points: list[dict[str, Any]]) -> dict[str, Any]:
    """What was optimised, on what, how: the report's head."""
    return {
        "generated_at": to_wire_time(datetime.now(timezone.utc)),
        "inputs": {"prices": [str(p) for p in prices], "news": [str(p) for p in news]},
        "data": {"symbols": sorted(bars["symbol"].unique()), "bars": int(len(bars)),
                 "bar_times": len(times), "start": times[0], "end": times[-1],
                 "daily_bars": is_daily(bars)},
        "annualisation": asdict(ann),
        "execution": {"cash": opts.exec.cash, **asdict(opts.exec.costs),
                      "risk_overrides": opts.exec.risk},
        "objective": opts.objective, "mode": "anchored" if opts.anchored else "rolling",
        "folds_count": opts.folds, "embargo_bars": embargo, "fixed_params": opts.params,
        "grid": points, "grid_parameters": list(opts.grid),
    }


def _test_runs(wf: WalkForward, bars: pd.DataFrame, times: pd.DatetimeIndex,
               signals: Sequence[Sequence[TradingSignal]], cfg: ExecConfig,
               ann: Annualisation) -> list[WindowRun]:
    """Per fold, the chosen grid point alone on its test window."""
    return [WindowRun(bars, signals[g], times[w.test[0]], times[w.test[1] - 1], cfg,
                      ann.bars_per_year) for w, g in zip(wf.windows, wf.chosen)]


def _folds(wf: WalkForward, times: pd.DatetimeIndex,
           tests: Sequence[WindowRun]) -> list[dict[str, Any]]:
    rows = []
    for w, g, scores, run in zip(wf.windows, wf.chosen, wf.scores, tests):
        rows.append({"fold": w.fold, **w.times(times), "train_steps": list(w.train),
                     "test_steps": list(w.test), "chosen": g, "params": wf.grid[g],
                     "train_objective": score_json(scores[g]),
                     "train_scores": [score_json(s) for s in scores],
                     "test": window_figures(run)})
    return rows


def _out_of_sample(wf: WalkForward, bars: pd.DataFrame, tests: Sequence[WindowRun],
                   cfg: ExecConfig, ann: Annualisation) -> dict[str, Any]:
    """The stitched test windows beside buy and hold over the same bars; the signals' value over
    the test windows, each signal measured inside its own window."""
    strat, bench, _ = metric_block(wf.result, bars, ann, cfg)
    frames = [on_grid(run.forward, w.test[0]) for w, run in zip(wf.windows, tests)]
    fwd = pd.concat([f for f in frames if len(f)] or frames[:1])  # empty frames: no dtypes
    return {"start": wf.start, "end": wf.end, "strategy": strat, "buy_and_hold": bench,
            "signal_quality": own_horizon(fwd)["all"]}


def _write(out: Path, report: dict[str, Any]) -> None:
    (out / "optimize.json").write_text(json.dumps(report, indent=1, default=json_default,
                                                  allow_nan=False))
    (out / "optimize.md").write_text("\n".join(markdown(report)) + "\n", encoding="utf-8")


def _score_text(score: float | str | None) -> str:
    return "∞" if score == "inf" else fmt(score, "num")


def _params_text(params: Mapping[str, Any], names: Sequence[str]) -> str:
    return ", ".join(f"{k}={params[k]}" for k in names) or "–"


def _day(stamp: Any, daily: bool) -> str:
    text = stamp.isoformat() if isinstance(stamp, (pd.Timestamp, datetime)) else str(stamp)
    return text[:10] if daily else text[:16].replace("T", " ")


def _ic_text(q: Mapping[str, Any]) -> str:
    return f"{fmt(q['ic'], 'num')} (t {fmt(q['ic_t'], 'num2')})"


def markdown(r: Mapping[str, Any]) -> list[str]:
    """optimize.md, line by line."""
    return [*_md_head(r), "", *_md_folds(r), "", *_md_out_of_sample(r), "", *_md_stability(r)]


def _md_head(r: Mapping[str, Any]) -> list[str]:
    d = r["data"]
    daily = d["daily_bars"]
    return [
        "# Walk-forward optimisation",
        "",
        f"{d['bars']:,} bars of {', '.join(d['symbols'])}, {_day(d['start'], daily)} to "
        f"{_day(d['end'], daily)}. {r['folds_count']} folds, {r['mode']} train windows, "
        f"embargo {r['embargo_bars']} bars; {len(r['grid'])} grid points chosen by "
        f"{OBJECTIVE_NAMES[r['objective']]} on each train window.",
        "",
        "Only the test windows are results. A train score appears only as the reason for a "
        "choice.",
    ]


def _md_folds(r: Mapping[str, Any]) -> list[str]:
    daily, names = r["data"]["daily_bars"], r["grid_parameters"]
    lines = ["## Folds (test windows)", "",
             f"| fold | train | test | chosen | train {OBJECTIVE_NAMES[r['objective']]} | "
             "test return | Sharpe | profit factor | trades | IC (t) | hit rate (signals) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in r["folds"]:
        t = f["test"]
        lines.append(
            f"| {f['fold']} | {_day(f['train_start'], daily)} → {_day(f['train_end'], daily)} | "
            f"{_day(f['test_start'], daily)} → {_day(f['test_end'], daily)} | "
            f"{_params_text(f['params'], names)} | {_score_text(f['train_objective'])} | "
            f"{fmt(t['total_return'], 'pct')} | {fmt(t['sharpe'], 'num2')} | "
            f"{fmt(t['profit_factor'], 'num2')} | {fmt(t['trades'], 'int')} | {_ic_text(t)} | "
            f"{fmt(t['hit_rate'], 'pct')} ({fmt(t['signals'], 'int')}) |")
    return lines


def _md_out_of_sample(r: Mapping[str, Any]) -> list[str]:
    o = r["out_of_sample"]
    s, b, q = o["strategy"], o["buy_and_hold"], o["signal_quality"]
    daily = r["data"]["daily_bars"]
    exposure = s["average_gross_exposure"]
    rows = [("total return", "total_return", "pct"), ("annualised return", "annualised_return", "pct"),
            ("Sharpe", "sharpe", "num2"), ("max drawdown", "max_drawdown", "pct"),
            ("Calmar", "calmar", "num2"), ("average gross exposure", "average_gross_exposure", "pct")]
    return [f"## Out of sample: the stitched test windows, {_day(o['start'], daily)} to "
            f"{_day(o['end'], daily)}", "",
            f"| | strategy | buy & hold | buy & hold at {fmt(exposure, 'pct')} exposure |",
            "|---|---|---|---|",
            *(f"| {label} | {fmt(s[k], kind)} | {fmt(b[k], kind)} | "
              f"{fmt(b['total_return_at_strategy_exposure'], 'pct') if k == 'total_return' else ''} |"
              for label, k, kind in rows),
            f"| closed trades, profit factor | {fmt(s['trades'], 'int')}, "
            f"{fmt(s['profit_factor'], 'num2')} | | |",
            f"| signals measured, IC (t), hit rate | {fmt(q['signals'], 'int')}, {_ic_text(q)}, "
            f"{fmt(q['hit_rate'], 'pct')} | | |"]


def _md_stability(r: Mapping[str, Any]) -> list[str]:
    lines = ["## Parameter stability", "",
             "| parameter | chosen per fold | most frequent | share of folds | changes |",
             "|---|---|---|---|---|"]
    for name, st in r["stability"].items():
        lines.append(f"| {name} | {', '.join(str(v) for v in st['per_fold'])} | "
                     f"{st['most_frequent']} | {fmt(st['share'], 'pct')} | {st['changes']} |")
    return lines


def summary_lines(r: Mapping[str, Any]) -> list[str]:
    """The console summary: per fold, the stitched test windows, the stability."""
    daily, names, o = r["data"]["daily_bars"], r["grid_parameters"], r["out_of_sample"]
    lines = [f"{len(r['folds'])} folds ({r['mode']}, embargo {r['embargo_bars']} bars), chosen by "
             f"{OBJECTIVE_NAMES[r['objective']]} on train; test windows only:"]
    for f in r["folds"]:
        t = f["test"]
        lines.append(f"  fold {f['fold']} test {_day(f['test_start'], daily)} → "
                     f"{_day(f['test_end'], daily)}: {_params_text(f['params'], names)} "
                     f"(train {_score_text(f['train_objective'])}) -> return "
                     f"{fmt(t['total_return'], 'pct')}, Sharpe {fmt(t['sharpe'], 'num2')}, "
                     f"PF {fmt(t['profit_factor'], 'num2')}, {fmt(t['trades'], 'int')} trades, "
                     f"IC {_ic_text(t)}, hit {fmt(t['hit_rate'], 'pct')}")
    s, b, q = o["strategy"], o["buy_and_hold"], o["signal_quality"]
    lines += [f"out of sample (stitched): return {fmt(s['total_return'], 'pct')}, Sharpe "
              f"{fmt(s['sharpe'], 'num2')}, max drawdown {fmt(s['max_drawdown'], 'pct')}, "
              f"{fmt(s['trades'], 'int')} trades, PF {fmt(s['profit_factor'], 'num2')}, "
              f"IC {_ic_text(q)}, hit {fmt(q['hit_rate'], 'pct')}",
              f"buy & hold (same bars): return {fmt(b['total_return'], 'pct')}, Sharpe "
              f"{fmt(b['sharpe'], 'num2')}, max drawdown {fmt(b['max_drawdown'], 'pct')}; at the "
              f"strategy's {fmt(s['average_gross_exposure'], 'pct')} exposure: return "
              f"{fmt(b['total_return_at_strategy_exposure'], 'pct')}"]
    lines += [f"stability {name}: {', '.join(str(v) for v in st['per_fold'])} (most frequent "
              f"{st['most_frequent']} in {fmt(st['share'], 'pct')} of folds, {st['changes']} "
              f"changes)" for name, st in r["stability"].items()]
    return lines
