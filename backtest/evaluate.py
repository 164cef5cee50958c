"""`tradeflow backtest`: signals from the bounded SQL run, executed and measured, in DIR/.

Writes, next to signals.jsonl / indicators.jsonl / dead-letter.jsonl:
  equity.csv      per bar end: equity, cash, gross exposure, open positions, buy & hold, drawdowns
  positions.csv   per bar end: signed quantity per symbol
  trades.jsonl    round trips (open ones marked at the last close), fills.jsonl, decisions.jsonl
                  (every signal's risk decision, vetoes included)
  report.json     all figures; report.html the same as a page
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tradeflow.config import ConsumerSettings, Sizing
from tradeflow.contracts import Action, TradingSignal, to_wire_time
from tradeflow.trading import calendar

from . import metrics, risk_figures, signal_quality
from .data import (DAILY_SPACING, Annualisation, bar_spacing, bars_frame, bars_per_year,
                   daily_closes)
from .execution import ExecConfig, ExecutionResult, consumer_settings, execute
from .forked import Forked, thaw
from .grid import DEFAULT_GRID, Started, start_runs
from .report import ReportData, SymbolView, render
from .run import indicator_line_order, load_signals, prepare_inputs, write_indicators
from .walk_forward import make_windows, walk_forward

log = logging.getLogger(__name__)
OVERLAYS = ("sma_20", "sma_50", "bb_upper", "bb_lower")


@dataclass
class Options:
    exec: ExecConfig = field(default_factory=ExecConfig)
    bars_per_year: float | None = None  # None: from the data's bar spacing
    walk_forward: bool = False
    grid: dict[str, list[Any]] = field(default_factory=lambda: dict(DEFAULT_GRID))
    params: dict[str, Any] = field(default_factory=dict)  # strategy.toml overrides, every run
    folds: int = 4
    embargo: int | None = None  # None: strategy.toml horizon_bars
    anchored: bool = False
    var_level: float = 0.95
    mc_paths: int = 1000
    mc_horizon_days: int = 20
    seed: int = 7
    max_parallel: int = 2
    parallelism: int = 1
    max_symbol_charts: int = 8
    # Every bar's indicators: DIR/indicators.jsonl and the charts' SMA and Bollinger overlays.
    # Off by default: writing a row per bar costs the job about a third of its run time.
    indicators: bool = False
    keep_work: bool = False


def _curve_frame(res: ExecutionResult, bh: pd.DataFrame) -> pd.DataFrame:
    eq = res.equity.copy()
    eq["buy_hold"] = bh["equity"]
    eq["drawdown"] = metrics.drawdown(eq["equity"], res.cash)
    eq["bh_drawdown"] = metrics.drawdown(eq["buy_hold"], res.cash)
    return eq


def _portfolio(positions: pd.Series, closes: pd.Series, equity: float) -> risk_figures.Portfolio:
    values = {s: float(q * closes[s]) for s, q in positions.items() if q}
    return risk_figures.Portfolio(values, equity - sum(values.values()))


def _symbol_views(bars: pd.DataFrame, indicators: list[str], res: ExecutionResult,
                  limit: int) -> list[SymbolView]:
    """The charts of the `limit` most traded symbols; `indicators`: the run's indicator lines."""
    fills_by = pd.Series([f.symbol for f in res.fills]).value_counts() if res.fills else pd.Series(dtype=int)
    symbols = sorted(bars["symbol"].unique(), key=lambda s: (-int(fills_by.get(s, 0)), s))[:limit]
    charted = set(symbols)
    vetoed: dict[str, list[dict[str, Any]]] = {}
    for d in res.decisions:
        if d["symbol"] in charted and d["rule"] != "approved":
            vetoed.setdefault(d["symbol"], []).append(d)
    ind = pd.DataFrame([json.loads(line) for line in indicators
                        if indicator_line_order(line)[0] in charted])
    if not ind.empty:
        ind["time"] = pd.to_datetime(ind["timestamp"], utc=True)
    views = []
    for sym in sorted(symbols):
        b = bars[bars["symbol"] == sym].reset_index(drop=True)
        pos = pd.Series(b.index, index=b["time"])
        overlays: dict[str, np.ndarray] = {}
        if not ind.empty:
            i = ind[ind["symbol"] == sym].set_index("time").reindex(b["time"])
            overlays = {k: i[k].to_numpy(float) for k in OVERLAYS if k in i}
        v = SymbolView(sym, list(b["time"]), b["close"].to_numpy(float), overlays)
        for f in res.fills:
            if f.symbol == sym:
                k = int(pos[pd.Timestamp(f.bar_time)])
                label = f"{f.side} {f.qty:g} @ {f.price:.2f} ({f.time:%Y-%m-%d %H:%M} UTC)"
                (v.buys if f.side == "buy" else v.sells).append((k, f.price, label))
        for d in vetoed.get(sym, ()):
            t = pd.Timestamp(d["bar_time"])
            if t in pos.index:
                k = int(pos[t])
                v.vetoed.append((k, float(b["close"].iloc[k]),
                                 f"{d['action']} vetoed: {d['rule']} ({d['reason']})"))
        views.append(v)
    return views


def _sizing(cs: ConsumerSettings) -> dict[str, Any]:
    """How the consumer's settings size a trade, in words and figures (the report's headline)."""
    if cs.sizing is Sizing.volatility:
        text = (f"risking {cs.sizing_risk_fraction:.1%} of equity down to the signal's stop "
                f"per trade")
    else:
        text = f"{cs.sizing_fraction:.1%} of equity per trade"
    return {"rule": cs.sizing.value, "fraction": cs.sizing_fraction,
            "risk_fraction": cs.sizing_risk_fraction, "text": text}


Benchmark = tuple[pd.DataFrame, dict[str, Any]]  # buy and hold's curve and its summary


def benchmark(bars: pd.DataFrame, grid: pd.DatetimeIndex, ann: Annualisation,
              cfg: ExecConfig) -> Benchmark:
    """Buy and hold over `bars` between the grid's ends, marked on the grid, and its summary."""
    bh = metrics.buy_and_hold(bars[(bars["time"] >= grid[0]) & (bars["time"] <= grid[-1])],
                              cfg.cash, cfg.costs, grid)
    return bh, metrics.summary(bh, cfg.cash, ann.bars_per_year)


def metric_block(res: ExecutionResult, bars: pd.DataFrame, ann: Annualisation, cfg: ExecConfig,
                 bench: Benchmark | None = None
                 ) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    """The strategy's and buy and hold's summaries, and buy and hold's curve; `bench`: the
    benchmark already computed on the strategy's grid."""
    if bench is None or not bench[0].index.equals(res.equity.index):
        bench = benchmark(bars, res.equity.index, ann, cfg)
    bh, b = bench
    strat = metrics.summary(res.equity, res.cash, ann.bars_per_year, res.trades)
    b = {**b, "total_return_at_strategy_exposure": metrics.return_at_exposure(
        bh["equity"], strat["average_gross_exposure"])}
    return strat, b, bh


def evaluate(prices: Sequence[Path], news: Sequence[Path], out: Path, opts: Options | None = None,
             console: Console | None = None, started: Started | None = None) -> dict[str, Any]:
    """The whole evaluation; returns report.json's content. `started`: the runs of `opts`
    already started (grid.start_runs, as `tradeflow backtest` does before it loads this)."""
    opts = opts or Options()
    cfg = opts.exec
    out.mkdir(parents=True, exist_ok=True)
    if started is None:
        started = start_runs(out, opts.params, opts.grid if opts.walk_forward else None,
                             opts.indicators, opts.max_parallel, opts.parallelism)
    plan, work, workers = started.plan, started.work, started.workers
    defaults, grid, grid_run, param_sets = plan.defaults, plan.grid, plan.grid_run, plan.param_sets

    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        console=console or Console(stderr=True), transient=False)
    with progress, workers, ExitStack() as forks:
        t_load = progress.add_task("read and validate input", total=1)
        inputs = prepare_inputs(prices, news, out, work)
        workers.release()
        bars = bars_frame(inputs.bars)
        progress.advance(t_load)
        t_flink = progress.add_task(f"bounded Flink runs ({len(param_sets)})", total=len(param_sets))
        # While they run: what does not depend on the signals.
        ann = bars_per_year(bars)
        if opts.bars_per_year:
            ann = Annualisation(opts.bars_per_year, f"given: {opts.bars_per_year:g} bars per year")
        calendar.prepare(bars["time"].dt.year.unique())
        spacing = bar_spacing(bars)
        daily_bars = spacing >= DAILY_SPACING
        last_close = bars.groupby("symbol")["close"].last()
        dirs = workers.wait(on_done=lambda i: progress.advance(t_flink))
        runs = [load_signals(d) for d in dirs]
        signals, signal_lines = runs[0]

        t_exec = progress.add_task("execute, measure", total=3)
        # What does not depend on the trades is measured beside the engine, on the other core;
        # what the engine did is written beside the report (positions.csv, the largest, apart).
        forks.callback(thaw)  # runs last, once every fork has ended
        beside = Forked(lambda: _measure_signals(out, bars, signals, signal_lines, cfg, ann, opts))
        forks.callback(beside.cancel)
        indicators = (write_indicators(dirs[0], out / "indicators.jsonl") if opts.indicators
                      else [])
        res = execute(bars, signals, cfg, daily=daily_bars)
        progress.advance(t_exec)
        written = [Forked(lambda: _write_positions(out, res)),
                   Forked(lambda: _write_execution(out, res))]
        for w in written:
            forks.callback(w.cancel)
        quality, bench, bh_risk, daily = beside.result()
        strat, bench, bh = metric_block(res, bars, ann, cfg, bench)
        eq = _curve_frame(res, bh)
        progress.advance(t_exec)
        port = _portfolio(res.positions.iloc[-1], last_close, float(res.equity["equity"].iloc[-1]))
        risk = {"strategy": risk_figures.risk_report(port, daily, opts.var_level, opts.mc_paths,
                                                     opts.mc_horizon_days, opts.seed),
                "buy_and_hold": bh_risk}
        progress.advance(t_exec)

        wf_block, wf_eq, wf_bounds = None, None, []
        if opts.walk_forward:
            t_wf = progress.add_task("walk-forward", total=1)
            times = pd.DatetimeIndex(sorted(bars["time"].unique()))
            embargo = opts.embargo if opts.embargo is not None else int(defaults["horizon_bars"])
            windows = make_windows(len(times), opts.folds, embargo, anchored=opts.anchored)
            wf = walk_forward(bars, grid, [runs[i][0] for i in grid_run], windows, cfg,
                              ann.bars_per_year)
            wres = wf.result
            w_strat, w_bench, w_bh = metric_block(wres, bars, ann, cfg)
            wf_eq = wres.equity.assign(buy_hold=w_bh["equity"])
            wf_bounds = [int(wf_eq.index.get_indexer([times[w.test[0]]])[0]) for w in windows]
            wf_block = {"folds_count": opts.folds, "embargo_bars": embargo,
                        "mode": "anchored" if opts.anchored else "rolling", "grid": grid,
                        "flink_runs": len(param_sets), "folds": wf.to_dict(times),
                        "start": to_wire_time(wf.start.to_pydatetime()),
                        "end": to_wire_time(wf.end.to_pydatetime()),
                        "strategy": w_strat, "buy_and_hold": w_bench,
                        "decisions": dict(wres.rules)}
            wres.equity.assign(buy_hold=w_bh["equity"]).to_csv(out / "walk_forward_equity.csv")
            progress.advance(t_wf)

        t_rep = progress.add_task("write report", total=1)
        report = {
            "generated_at": to_wire_time(datetime.now(timezone.utc)),
            "inputs": {"prices": [str(p) for p in prices], "news": [str(p) for p in news]},
            "data": {"symbols": sorted(last_close.index), "bars": int(len(bars)),
                     "news": len(inputs.news), "rejected": len(inputs.rejected),
                     "start": to_wire_time(bars["time"].iloc[0].to_pydatetime()),
                     "end": to_wire_time(bars["time"].iloc[-1].to_pydatetime()),
                     "bar_spacing_seconds": spacing.total_seconds(), "daily_bars": daily_bars},
            "annualisation": asdict(ann),
            "sizing": _sizing(consumer_settings(cfg.risk, daily_bars)),
            "execution": {"fill": "open of the next bar of the symbol after the signal bar",
                          "exits": "stop, target (stop first when a bar reaches both; a gap "
                                   "fills at the open), horizon (the open after it), or an "
                                   "opposite signal",
                          "cash": cfg.cash, **asdict(cfg.costs), "risk_overrides": cfg.risk},
            "strategy_params": {k: defaults[k] for k in defaults if k in _signal_keys()},
            "signals": {"count": len(signals),
                        "buy": sum(s.action is Action.BUY for s in signals),
                        "sell": sum(s.action is Action.SELL for s in signals)},
            "decisions": dict(res.rules),
            "strategy": strat, "buy_and_hold": bench,
            "signal_quality": quality, "walk_forward": wf_block, "risk": risk,
        }
        _write_outputs(out, eq, report)
        views = _symbol_views(bars, indicators, res, opts.max_symbol_charts)
        (out / "report.html").write_text(render(ReportData(report, eq, views, wf_eq, wf_bounds)),
                                         encoding="utf-8")
        for w in written:
            w.result()
        progress.advance(t_rep)
    if not opts.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _signal_keys() -> set[str]:
    from jobs.sql_loader import load_strategy

    return set(load_strategy().get("signals", {}))


def _bh_portfolio(bars: pd.DataFrame, cfg: ExecConfig, bh: pd.DataFrame) -> risk_figures.Portfolio:
    """The buy-and-hold holdings at the end, valued at the last closes (for its risk figures)."""
    entries = metrics.buy_and_hold_entries(bars, cfg.cash, cfg.costs)
    values = {sym: float(e["shares"] * e["close"]) for sym, e in entries.iterrows()}
    return risk_figures.Portfolio(values, float(bh["equity"].iloc[-1]) - sum(values.values()))


def json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (pd.Timestamp, datetime)):
        return to_wire_time(o.to_pydatetime() if isinstance(o, pd.Timestamp) else o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _measure_signals(out: Path, bars: pd.DataFrame, signals: list[TradingSignal],
                     signal_lines: list[str], cfg: ExecConfig, ann: Annualisation, opts: Options
                     ) -> tuple[dict[str, Any], Benchmark, dict[str, Any], pd.DataFrame]:
    """What the report needs that does not depend on the trades: DIR/signals.jsonl, the signals'
    value, buy and hold on the grid of bar times, its risk figures, the daily closes."""
    (out / "signals.jsonl").write_text("".join(line + "\n" for line in signal_lines))
    quality = signal_quality.decay(bars, signals)
    grid = pd.DatetimeIndex(bars["time"].unique(), name="time")
    bench = benchmark(bars, grid, ann, cfg)
    daily = daily_closes(bars)
    bh_risk = risk_figures.risk_report(_bh_portfolio(bars, cfg, bench[0]), daily, opts.var_level,
                                       opts.mc_paths, opts.mc_horizon_days, opts.seed)
    return quality, bench, bh_risk, daily


def _write_positions(out: Path, res: ExecutionResult) -> None:
    res.positions.to_csv(out / "positions.csv", index_label="time")


def _write_execution(out: Path, res: ExecutionResult) -> None:
    """What the engine did: trades.jsonl, fills.jsonl, decisions.jsonl."""
    with open(out / "trades.jsonl", "w") as f:
        for t in res.trades:
            f.write(json.dumps(t.to_dict(), default=json_default) + "\n")
    with open(out / "fills.jsonl", "w") as f:
        for fill in res.fills:
            f.write(json.dumps(asdict(fill), default=json_default) + "\n")
    with open(out / "decisions.jsonl", "w") as f:
        for d in res.decisions:
            f.write(json.dumps(d, default=json_default) + "\n")


def _write_outputs(out: Path, eq: pd.DataFrame, report: dict[str, Any]) -> None:
    eq.to_csv(out / "equity.csv", index_label="time")
    (out / "report.json").write_text(json.dumps(report, indent=1, default=json_default,
                                                allow_nan=False))
