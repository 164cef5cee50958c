"""Signal job throughput against a plain SQL job on the same input, side by side.

    python -m benchmarks.job_bench [--rows 200000]

Input: `rows` simulated bars (20 symbols) and about one headline per 100 bars, as NDJSON in the
file backend's layout. Both jobs run in streaming mode over a bounded file source (so they
finish), on a local mini-cluster at parallelism 1, writing to the same filesystem sink table:

* plain: SMA(20) with Flink's built-in AVG over a ROWS window, nothing else;
* full: the product's job: deduplication, every indicator (JVM aggregates), the Python sentiment
  UDF on the news, the news/bar timeline, the setups and rules, writing indicators and signals.

Each job runs `repeats` times, alternating, and the best wall time of each counts (the machine is
shared and noisy). Printed: rows/s of each and the ratio full/plain (target >= 0.8).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from jobs.signal_job import SignalJob, file_job
from jobs.sql_loader import split_statements
from producers.market_sim import MarketSimulator, SimConfig

SYMBOLS = [f"S{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(20)]

PLAIN_SQL = """
INSERT INTO indicator_rows
SELECT symbol, event_time, `close`,
       AVG(`close`) OVER (PARTITION BY symbol ORDER BY event_time
                          ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
FROM stock_prices
"""


def make_input(topics: Path, rows: int) -> int:
    sim = MarketSimulator(SYMBOLS, seed=1, start=datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc),
                          config=SimConfig(session_only=False, news_shock_prob=0.005,
                                           neutral_news_prob=0.005))
    n = 0
    (topics / "stock-prices").mkdir(parents=True)
    (topics / "market-news").mkdir(parents=True)
    with open(topics / "stock-prices" / "000000000001.ndjson", "wb") as p, \
            open(topics / "market-news" / "000000000001.ndjson", "wb") as m:
        while n < rows:
            _, bars, news = sim.step()
            for b in bars:
                p.write(b.to_json() + b"\n")
            for item in news:
                m.write(item.to_json() + b"\n")
            n += len(bars)
    return n


def run_full(topics: Path, out: Path) -> float:
    job = file_job("bounded", topics, indicators=str(out / "indicators"), name="bench-full")
    ddl, inserts = job.statements()  # bounded connectors, rendered for a bounded source
    job.mode = "streaming"
    return _execute(job, ddl, inserts)


def run_plain(topics: Path, out: Path) -> float:
    job = file_job("bounded", topics, indicators=str(out / "indicators"), name="bench-plain")
    ddl = [job._table("stock_prices.sql", "source", job.prices),
           job._table("indicator_rows.sql", "sink", job.indicators)]
    job.mode = "streaming"
    return _execute(job, [s for t in ddl for s in split_statements(t)], [PLAIN_SQL])


def _execute(job: SignalJob, ddl: list[str], inserts: list[str]) -> float:
    t0 = time.perf_counter()
    env = job.environment()
    for stmt in ddl:
        env.execute_sql(stmt)
    ss = env.create_statement_set()
    for insert in inserts:
        ss.add_insert_sql(insert)
    ss.execute().wait()
    return time.perf_counter() - t0


def count_rows(d: Path) -> int:
    return sum(1 for p in d.rglob("*") if p.is_file() and not p.name.startswith(".")
               for _ in p.open())


def run(rows: int = 200_000, repeats: int = 2) -> dict:
    work = Path(tempfile.mkdtemp(prefix="tradeflow-bench-"))
    try:
        n = make_input(work / "topics", rows)
        best = {"plain": float("inf"), "full": float("inf")}
        written = {}
        for i in range(repeats):
            for name, fn in (("plain", run_plain), ("full", run_full)):
                out = work / f"{name}-{i}"
                if (work / "topics" / "trading-signals").exists():
                    shutil.rmtree(work / "topics" / "trading-signals")
                best[name] = min(best[name], fn(work / "topics", out))
                written[name] = count_rows(out / "indicators")
        result = {
            "rows": n,
            "plain_rows_per_s": round(n / best["plain"]),
            "full_rows_per_s": round(n / best["full"]),
            "ratio_full_to_plain": round(best["plain"] / best["full"], 3),
            "plain_seconds": round(best["plain"], 2),
            "full_seconds": round(best["full"], 2),
            "rows_written": written,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    run(a.rows, a.repeats)
