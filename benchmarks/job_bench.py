"""Signal job throughput against a plain SQL job on the same input, side by side.

    python -m benchmarks.job_bench [--rows 1000000] [--repeats 3]

Input: `rows` simulated bars (20 symbols) and about one headline per 100 bars, as NDJSON in the
file backend's layout. Every job runs in streaming mode over a bounded file source (so it
finishes), on a local mini-cluster at parallelism 1, with the job's own runtime settings
(SignalJob.environment), writing to file-backend sinks:

* plain: SMA(20) with Flink's built-in AVG over a ROWS window, nothing else, one row per bar;
* full: the product's streaming job as `tradeflow run` submits it: every indicator and the
  repeated-bar check (JVM aggregates in one window), the Python sentiment UDF on the news, the news
  join, the setups and rules, writing the signals;
* full_bar_rows: the same job also writing every bar's indicators, as the backtest does, so it
  writes at least the rows the plain job writes;
* full_bar_watermarks: `full` with a watermark step per bar. The input is dated 2024, which
  stock_prices.sql treats as history (a replay, a backlog: the watermark steps an hour at a
  time); live bars get a step each, and this run gives them that by counting 2024 as live.

Each job runs `repeats` times, alternating, and the best wall time of each counts (the machine is
shared and noisy, and the first run of each job is on a cold JVM). A million bars by default: the
job is a long-running stream, and its fixed cost per submission (planning the SQL, compiling the
generated code, starting the Python UDF), about a second more than the plain job's, would
otherwise weigh more than its rate; `best_seconds_startup_run` shows both parts.

Printed: rows/s of each and the ratios to plain (target >= 0.8).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from pyflink.table import TableResult

from benchmarks.common import Phases, best_of, cli, report
from jobs.signal_job import SignalJob, define, file_job
from jobs.sql_loader import SQL_DIR, flat_params, load_strategy, split_statements
from producers.market_sim import MarketSimulator, SimConfig
from tradeflow.config import NEWS, PRICES, SIGNALS

SYMBOLS = [f"S{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(20)]

def indicator_rows_insert(*values: str, where: str = "") -> str:
    """`INSERT INTO indicator_rows` of `values` (symbol, time, close, ...) from stock_prices, the
    sink's remaining columns NULL: counted from its DDL, so a new indicator column never breaks
    the baselines."""
    ddl = (SQL_DIR / "tables" / "indicator_rows.sql").read_text()
    columns = re.findall(r"^\s+`?\w+`?\s+(?:STRING|DOUBLE|TIMESTAMP_LTZ)", ddl, re.M)
    filled = [*values, *["CAST(NULL AS DOUBLE)"] * (len(columns) - len(values))]
    return (f"INSERT INTO indicator_rows\nSELECT {', '.join(filled)}\nFROM stock_prices\n"
            f"{where}\n")


# The baseline: the built-in AVG as a 20-bar SMA, one row per bar.
PLAIN_SQL = indicator_rows_insert(
    "symbol", "event_time", "`close`",
    "AVG(`close`) OVER (PARTITION BY symbol ORDER BY timeline_time "
    "ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)")


def simulated(rows: int) -> Iterator[tuple[list, list]]:
    """(bars, news) of each simulated minute until `rows` bars: the input of every job benchmark."""
    sim = MarketSimulator(SYMBOLS, seed=1, start=datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc),
                          config=SimConfig(session_only=False, news_shock_prob=0.005,
                                           neutral_news_prob=0.005))
    n = 0
    while n < rows:
        _, bars, news = sim.step()
        yield bars, news
        n += len(bars)


def make_input(topics: Path, rows: int) -> int:
    n = 0
    (topics / PRICES).mkdir(parents=True)
    (topics / NEWS).mkdir(parents=True)
    with open(topics / PRICES / "000000000001.ndjson", "wb") as p, \
            open(topics / NEWS / "000000000001.ndjson", "wb") as m:
        for bars, news in simulated(rows):
            for b in bars:
                p.write(b.to_json() + b"\n")
            for item in news:
                m.write(item.to_json() + b"\n")
            n += len(bars)
    return n


def run_full(topics: Path, out: Path, bar_rows: bool = False,
             bar_watermarks: bool = False) -> tuple[float, float]:
    """The streaming job as `tradeflow run` submits it: prices and news in, signals out. With
    bar_rows it also writes every bar's indicators (what the backtest writes) to the plain job's
    sink, so both write one row per bar. With bar_watermarks no bar counts as history."""
    live = {"params": {**flat_params(load_strategy()), "history_age_seconds": 10**10}} \
        if bar_watermarks else {}  # three centuries: 2024 is live
    job = file_job("bounded", topics, indicators=str(out / "indicators") if bar_rows else None,
                   name="bench-full-rows" if bar_rows else "bench-full", **live)
    # bounded connectors on the streaming runtime: the stream, ending with its input
    return _timed(lambda: job.run(wait=False, runtime="streaming"))


def run_plain(topics: Path, out: Path) -> tuple[float, float]:
    job = file_job("bounded", topics, name="bench-plain")
    return _timed(lambda: submit_sql(job, str(out / "indicators"), PLAIN_SQL))


def submit_sql(job: SignalJob, sink: str, insert: str) -> TableResult:
    """`insert` alone (none of the signal SQL) from the job's prices table, with its connector
    and runtime settings, on the streaming runtime, into an indicator_rows table at `sink`."""
    ddl = [job._table("stock_prices.sql", "source", job.prices),
           job._table("indicator_rows.sql", "sink", sink)]
    env = replace(job, mode="streaming").environment()
    define(env, [s for t in ddl for s in split_statements(t)])
    statements = env.create_statement_set()
    statements.add_insert_sql(insert)
    return statements.execute()


def _timed(submit: Callable[[], TableResult]) -> tuple[float, float]:
    """(startup, run) seconds: startup is the DDL, planning and submission to the mini-cluster,
    run is from submission until the bounded input is through and the sinks have committed."""
    t0 = time.perf_counter()
    result = submit()
    t1 = time.perf_counter()
    result.wait()
    return t1 - t0, time.perf_counter() - t1


def count_rows(d: Path) -> int:
    if not d.exists():
        return 0
    return sum(1 for p in d.rglob("*") if p.is_file() and not p.name.startswith(".")
               for _ in p.open())


JOBS = {"plain": run_plain, "full": run_full, "full_bar_rows": partial(run_full, bar_rows=True),
        "full_bar_watermarks": partial(run_full, bar_watermarks=True)}


def run(rows: int = 1_000_000, repeats: int = 3) -> dict:
    with tempfile.TemporaryDirectory(prefix="tradeflow-bench-",
                                     ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        topics = work / "topics"
        n = make_input(topics, rows)
        # Rows each run wrote: the same input must give the same rows every time.
        written: dict[str, dict[str, list[int]]] = {
            name: {"bar_rows": [], "signals": []} for name in JOBS}

        def one(name: str, i: int) -> Phases:
            out = work / f"{name}-{i}"
            shutil.rmtree(topics / SIGNALS, ignore_errors=True)
            phases = JOBS[name](topics, out)
            written[name]["bar_rows"].append(count_rows(out / "indicators"))
            written[name]["signals"].append(count_rows(topics / SIGNALS))
            return phases

        best, each = best_of(repeats, JOBS, one)
        total = {name: sum(phases) for name, phases in best.items()}
        result = {
            "rows": n,
            **{f"{name}_rows_per_s": round(n / total[name]) for name in JOBS},
            **{f"ratio_{name}_to_plain": round(total["plain"] / total[name], 3)
               for name in JOBS if name != "plain"},
            "best_seconds_startup_run": {name: [round(p, 2) for p in best[name]] for name in JOBS},
            "seconds_each_repeat": each,
            "rows_written_each_repeat": written,
        }
    return report(result)


if __name__ == "__main__":
    cli(run, __doc__, "rows", "repeats")
