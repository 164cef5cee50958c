"""How the default rules are chosen: walk-forward on development data, judged on data the choice
never saw. Prints the figures the README's strategy section quotes.

    python -m tools.strategy_research [--work DIR]

1. Development: the LEAN daily bars of ../shared/data up to 2012 (10 US stocks and ETFs,
   1998-2012). `tradeflow optimize` (objective: IC at each signal's own horizon, 4 rolling
   folds, embargo of the longest horizon) over a grid of which setups may fire and the horizon.
2. Decision, on development results only: the walk-forward's candidate is the grid point chosen
   in the most folds (a tie goes to the later fold's choice). It replaces strategy.toml's rules
   only if the walk-forward's stitched test windows reached the goal (IC at the own horizon with
   t >= 2 and a profit factor >= 1); otherwise strategy.toml stays. Nothing after this step
   changes the decision.
3. Held out, never seen by steps 1-2: the S&P 500 daily bars 2013-02..2018-02 of the symbols
   that are not in the development set, and the StockNet daily prices with their tweets as news
   (2014-01..2016-03, after the development period). Each is backtested with strategy.toml's
   rules and with the candidate, default costs (5 bp slippage): the figures of the decision,
   and of the road not taken.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backtest.evaluate import Options, evaluate
from backtest.optimize import OptimizeOptions, optimize, summary_lines
from backtest.report import fmt

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LEAN_DAILY = DATA / "lean-us-equity-daily" / "lean_daily_trade_bars.csv"
SP500 = DATA / "sp500-daily-2013-2018" / "sp500_daily_subset_2013-02-08_2018-02-07.csv"
STOCKNET = DATA / "stocknet-tweets-prices"
DEVELOPMENT_END = "2012-12-31"
NEWS_PERIOD = ("2014-01-01", "2016-03-31")
GRID: dict[str, list[Any]] = {"rsi_setup": ["on", "off"], "cross_setup": ["on", "off"],
                              "macd_setup": ["on", "off"], "band_setup": ["on", "off"],
                              "horizon_bars": [10, 30]}


def _rows(path: Path) -> Iterator[list[str]]:
    with open(path, newline="") as f:
        yield from csv.reader(f)


def _write(path: Path, header: list[str], rows: Iterator[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def development_prices(work: Path) -> Path:
    rows = _rows(LEAN_DAILY)
    header = next(rows)
    return _write(work / "development.csv", header, (r for r in rows if r[1] <= DEVELOPMENT_END))


def held_out_sp500(work: Path) -> Path:
    seen = {r[0] for r in list(_rows(LEAN_DAILY))[1:]}
    rows = _rows(SP500)
    header = next(rows)
    return _write(work / "sp500-unseen.csv", header, (r for r in rows if r[-1] not in seen))


def held_out_stocknet(work: Path) -> tuple[list[Path], Path]:
    """StockNet's Yahoo price files cut to the tweets' period (file names keep the symbols),
    and the tweets."""
    prices = []
    (work / "stocknet").mkdir(exist_ok=True)
    for source in sorted((STOCKNET / "price_raw").glob("*.csv")):
        rows = _rows(source)
        header = next(rows)
        prices.append(_write(work / "stocknet" / source.name, header,
                             (r for r in rows if NEWS_PERIOD[0] <= r[0] <= NEWS_PERIOD[1])))
    return prices, STOCKNET / "stocknet_tweets_8tickers.csv"


GOAL_T, GOAL_PROFIT_FACTOR = 2.0, 1.0


def reached(ic_t: float | None, profit_factor: float | None) -> bool:
    return (ic_t or 0.0) >= GOAL_T and (profit_factor or 0.0) >= GOAL_PROFIT_FACTOR


def candidate(report: dict[str, Any]) -> dict[str, Any]:
    """The grid point chosen in the most folds; a tie goes to the later fold's choice."""
    chosen = [tuple(sorted(f["params"].items())) for f in report["folds"]]
    counts = Counter(chosen)
    top = max(counts.values())
    return dict(next(c for c in reversed(chosen) if counts[c] == top))


def figures(report: dict[str, Any]) -> str:
    s, b = report["strategy"], report["buy_and_hold"]
    q = report["signal_quality"]["own_horizon"]["all"]
    return (f"{report['signals']['count']:,} signals, IC {fmt(q['ic'], 'num')} (t "
            f"{fmt(q['ic_t'], 'num')}), hit {fmt(q['hit_rate'], 'pct')}, PF "
            f"{fmt(s['profit_factor'], 'num2')} over {s['trades']:,} trades, Sharpe "
            f"{fmt(s['sharpe'], 'num2')}, return {fmt(s['total_return'], 'pct')} | buy & hold "
            f"Sharpe {fmt(b['sharpe'], 'num2')}, return {fmt(b['total_return'], 'pct')}, at the "
            f"strategy's exposure {fmt(b['total_return_at_strategy_exposure'], 'pct')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path(".tradeflow") / "strategy-research")
    work = ap.parse_args(argv).work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    print(f"1. development: {LEAN_DAILY.name} up to {DEVELOPMENT_END}, grid {GRID}")
    dev = optimize([development_prices(work)], [], work / "optimize",
                   OptimizeOptions(grid=GRID, objective="ic"), progress=print)
    for line in summary_lines(dev):
        print("   " + line)
    chosen = candidate(dev)
    oos = dev["out_of_sample"]
    adopt = reached(oos["signal_quality"]["ic_t"], oos["strategy"]["profit_factor"])
    print(f"2. candidate: {chosen}; the walk-forward's test windows "
          f"{'reached' if adopt else 'did not reach'} IC t >= {GOAL_T:g} with profit factor >= "
          f"{GOAL_PROFIT_FACTOR:g}: {'adopt it' if adopt else 'strategy.toml stays'}")
    stocknet_prices, tweets = held_out_stocknet(work)
    held_out = {"S&P 500 2013-2018, unseen symbols": ([held_out_sp500(work)], []),
                "StockNet 2014-2016 with tweets": (stocknet_prices, [tweets])}
    print("3. held out")
    for name, (prices, news) in held_out.items():
        for label, params in (("strategy.toml", {}), ("candidate", chosen)):
            out = work / f"{name.split()[0].lower()}-{label.replace('.', '-')}"
            report = evaluate(prices, news, out, Options(params=params, mc_paths=100))
            print(f"   {name}, {label}: {figures(report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
