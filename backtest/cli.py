"""`tradeflow backtest` and `tradeflow parity`: the signal SQL and the trading engine over
history, and a recorded run replayed to prove the two take the same decisions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tradeflow.cli import require_flink
from tradeflow.config import get_settings

if TYPE_CHECKING:
    from .execution import ExecConfig

F = TypeVar("F", bound=Callable[..., Any])


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several click options as one decorator, in the order given (shared by the commands)."""
    def apply(f: F) -> F:
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


INPUTS = _options(
    click.option("--prices", "prices", multiple=True, required=True,
                 type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="Price CSV (repeatable; formats as for `produce replay`)."),
    click.option("--news", "news", multiple=True,
                 type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="News CSV (repeatable)."))
PARALLELISM = click.option("--parallelism", type=click.IntRange(min=1), default=1,
                           show_default=True)
COSTS = _options(
    click.option("--cash", type=click.FloatRange(min=0, min_open=True), default=100_000.0,
                 show_default=True, help="Starting cash of the simulated account."),
    click.option("--slippage-bps", type=click.FloatRange(min=0), default=5.0, show_default=True,
                 help="Fills are this much worse than the next bar's open."),
    click.option("--fee-bps", type=click.FloatRange(min=0), default=0.0, show_default=True,
                 help="Fee in basis points of each fill's value."),
    click.option("--fee-per-order", type=click.FloatRange(min=0), default=0.0,
                 show_default=True),
    click.option("--risk", "risk", multiple=True, metavar="NAME=VALUE",
                 help="Override a consumer risk/sizing setting, e.g. --risk sizing_fraction=0.1 "
                      "(field name or TRADEFLOW_ variable; repeatable)."),
    click.option("--param", "param", multiple=True, metavar="NAME=VALUE",
                 help="Override a strategy.toml parameter for this backtest (repeatable), e.g. "
                      "exit_mode=atr or horizon_bars=10."))
GRID = click.option("--grid", "grid", multiple=True, metavar="NAME=V1,V2",
                    help="Walk-forward grid over strategy.toml parameters (repeatable; default "
                         "rsi_oversold=30,35 and rsi_overbought=70,65).")
FOLDS = _options(
    click.option("--folds", type=click.IntRange(min=1), default=4, show_default=True),
    click.option("--embargo", type=click.IntRange(min=0), default=None,
                 help="Bars between each train and test window [default: horizon_bars]."),
    click.option("--anchored", is_flag=True,
                 help="Train windows start at the beginning of the data."))
MAX_PARALLEL = click.option("--max-parallel", type=click.IntRange(min=1), default=2,
                            show_default=True, help="Worker processes for a grid's bounded runs "
                                                    "(each runs its share as one job).")


def pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint=what)
        out[name.strip()] = value.strip()
    return out


def number(text: str) -> float | int | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def grid_values(items: tuple[str, ...]) -> dict[str, list[float | int | str]]:
    return {k: [number(v) for v in vs.split(",") if v.strip()]
            for k, vs in pairs(items, "--grid").items()}


def exec_config(cash: float, slippage_bps: float, fee_bps: float, fee_per_order: float,
                risk: tuple[str, ...]) -> ExecConfig:
    from .execution import Costs, ExecConfig

    return ExecConfig(cash, Costs(slippage_bps, fee_bps, fee_per_order), pairs(risk, "--risk"))


@click.command("backtest")
@INPUTS
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory (report.json, report.html, signals, trades, equity, ...).")
@PARALLELISM
@click.option("--signals-only", is_flag=True,
              help="Only run the SQL: indicators.jsonl, signals.jsonl, dead-letter.jsonl.")
@click.option("--indicators", is_flag=True,
              help="Also write every bar's indicators (DIR/indicators.jsonl) and draw the SMA "
                   "and Bollinger overlays on the report's charts (slower: a row per bar).")
@COSTS
@click.option("--bars-per-year", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Annualisation; default from the bar spacing (252 daily, 252 x bars/day intraday).")
@click.option("--walk-forward", is_flag=True,
              help="Also pick rule parameters on rolling train windows and report the test windows.")
@GRID
@FOLDS
@click.option("--mc-paths", type=click.IntRange(min=10), default=1000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@MAX_PARALLEL
def backtest(prices: tuple[Path, ...], news: tuple[Path, ...], out: Path, parallelism: int,
             signals_only: bool, indicators: bool, cash: float, slippage_bps: float, fee_bps: float,
             fee_per_order: float, risk: tuple[str, ...], param: tuple[str, ...],
             bars_per_year: float | None,
             walk_forward: bool, grid: tuple[str, ...], folds: int, embargo: int | None,
             anchored: bool, mc_paths: int, seed: int, max_parallel: int) -> None:
    """Run the signal SQL bounded over history (the same SQL as the streaming job), execute the
    signals with the consumer's risk manager and the paper broker at the next bar's open, and
    measure them: DIR/report.json and a self-contained DIR/report.html.

    Input may be unordered and hold duplicate bars; unreadable rows go to DIR/dead-letter.jsonl.
    """
    require_flink()
    params = {k: number(v) for k, v in pairs(param, "--param").items()}
    if signals_only:
        from .run import run_backtest

        try:
            r = run_backtest(list(prices), list(news), out, parallelism, params)
        except ValueError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"{r.bars} bars, {r.news} news, {r.rejected} rejected -> {r.indicator_rows} "
                   f"indicator rows, {r.signals} signals in {r.out}")
        return
    from .grid import DEFAULT_GRID, start_runs

    grid_spec = grid_values(grid) if grid else dict(DEFAULT_GRID)
    try:
        # First the job's workers, so that their JVMs come up while the rest loads (pandas, the
        # engine): an unknown parameter is refused here, before anything starts.
        started = start_runs(out, params, grid_spec if walk_forward else None, indicators,
                             max_parallel, parallelism)
        with started.workers:  # ended if anything fails before they run
            from .evaluate import Options, evaluate

            opts = Options(exec=exec_config(cash, slippage_bps, fee_bps, fee_per_order, risk),
                           bars_per_year=bars_per_year, walk_forward=walk_forward, folds=folds,
                           embargo=embargo, anchored=anchored, mc_paths=mc_paths, seed=seed,
                           max_parallel=max_parallel, parallelism=parallelism,
                           params=params, indicators=indicators, grid=grid_spec)
            report = evaluate(list(prices), list(news), out, opts, started=started)
    except (ValueError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None
    s, b = report["strategy"], report["buy_and_hold"]

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v * 100:.2f}%"

    def num(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    click.echo(f"{report['data']['bars']} bars, {report['signals']['count']} signals, "
               f"{s['trades']} closed trades -> {out / 'report.html'}")
    click.echo(f"strategy:   return {pct(s['total_return'])} (annualised {pct(s['annualised_return'])}), "
               f"Sharpe {num(s['sharpe'])}, max drawdown {pct(s['max_drawdown'])}")
    click.echo(f"buy & hold: return {pct(b['total_return'])} (annualised {pct(b['annualised_return'])}), "
               f"Sharpe {num(b['sharpe'])}, max drawdown {pct(b['max_drawdown'])}")
    if report["walk_forward"]:
        w = report["walk_forward"]["strategy"]
        click.echo(f"walk-forward (test windows): return {pct(w['total_return'])}, "
                   f"Sharpe {num(w['sharpe'])}, max drawdown {pct(w['max_drawdown'])}")
    from .report import summary_lines

    for line in summary_lines(report):
        click.echo(line)


@click.command("parity")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Scratch directory for the replay (default: <data dir>/parity).")
@click.option("--show", type=click.IntRange(min=0), default=20, show_default=True,
              help="Differences listed per category.")
def parity(work: Path | None, show: int) -> None:
    """Replay what a run recorded (stock-prices, market-news) through the bounded job and the
    trading engine, and compare signals, decisions, orders and fills with what it recorded.

    Run it on the data dir of a stopped run that started empty (`--data-dir`, default
    $TRADEFLOW_DATA_DIR). Exits 0 only when there is no difference.
    """
    require_flink()
    from tradeflow.config import ConsumerSettings
    from tradeflow.topics import open_backend

    from .parity import ParityError, compare, read_run, replay

    settings, consumer = get_settings(), ConsumerSettings()
    try:
        with open_backend(settings=settings) as backend:
            rec = read_run(backend, settings, consumer)
    except ParityError as err:
        raise click.ClickException(str(err)) from None
    if not rec.bars:
        raise click.ClickException(f"no bars on stock-prices in {settings.path()}: nothing to replay")
    click.echo(f"replaying {len(rec.bars):,} bars and {len(rec.news):,} stories from "
               f"{settings.path()} through the bounded job and the engine...")
    report = compare(rec, replay(rec, work or settings.path("parity"), consumer))
    for line in report.lines(show):
        click.echo(line)
    if report.total:
        sys.exit(1)


@click.command("optimize")
@INPUTS
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory (optimize.json, optimize.md).")
@GRID
@COSTS
@click.option("--objective", type=click.Choice(["sharpe", "profit_factor", "ic", "calmar"]),
              default="sharpe", show_default=True,
              help="What a train window ranks the grid by (ic: Spearman IC at each signal's own "
                   "horizon, counting only signals whose horizon ends inside the window).")
@FOLDS
@MAX_PARALLEL
@PARALLELISM
def optimize(prices: tuple[Path, ...], news: tuple[Path, ...], out: Path, grid: tuple[str, ...],
             cash: float, slippage_bps: float, fee_bps: float, fee_per_order: float,
             risk: tuple[str, ...], param: tuple[str, ...], objective: str, folds: int,
             embargo: int | None, anchored: bool, max_parallel: int, parallelism: int) -> None:
    """Walk-forward optimisation: on each train window (rolling, or --anchored), every point of
    the grid is traded and the best by --objective is kept; it then trades the test window that
    follows the embargo. Only the test windows are reported, with the parameters chosen per fold
    and their stability: DIR/optimize.json and DIR/optimize.md.

    An exhaustive grid (no Optuna or other sampler, to keep the dependencies lean), run bounded
    over the whole period with the points sharing one Flink job per worker, then sliced by
    window (exact: a signal uses only data up to its bar).
    """
    require_flink()
    from .optimize import OptimizeOptions, optimize as run_optimize, summary_lines

    opts = OptimizeOptions(exec=exec_config(cash, slippage_bps, fee_bps, fee_per_order, risk),
                           params={k: number(v) for k, v in pairs(param, "--param").items()},
                           objective=objective, folds=folds, embargo=embargo, anchored=anchored,
                           max_parallel=max_parallel, parallelism=parallelism)
    if grid:
        opts.grid = grid_values(grid)
    try:
        report = run_optimize(list(prices), list(news), out, opts,
                              progress=lambda line: click.echo(line, err=True))
    except (ValueError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None
    for line in summary_lines(report):
        click.echo(line)
    click.echo(f"-> {out / 'optimize.md'}, {out / 'optimize.json'}")
