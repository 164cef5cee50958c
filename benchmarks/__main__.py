"""`make bench`: every benchmark, each printing its figures as ratios against a baseline run
side by side (never absolute targets: these machines are shared and noisy)."""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks import (
    backtest_bench,
    dashboard_load,
    file_segments_bench,
    job_bench,
    kafka_job_bench,
    latency_bench,
    sentiment_bench,
)

BENCHES = {
    "sentiment": sentiment_bench.run,  # finance scorer vs plain VADER, headlines/s
    "job": job_bench.run,  # full signal job vs plain SQL SMA job, rows/s
    "backtest": backtest_bench.run,  # tradeflow backtest end to end vs the plain SQL job, bars/s
    "kafka_job": kafka_job_bench.run,  # the same two jobs on a local Kafka broker, rows/s
    "latency": latency_bench.run,  # bar end to signal and to order at real speed, vs a pass-through
    "dashboard": dashboard_load.run,  # 200 websocket clients vs none, simulator rate
    "file_segments": file_segments_bench.run,  # many small segments vs one, read time
}


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    # no `choices`: with nargs="*" Python 3.11 rejects an empty list against them
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help="benchmarks to run, each with its defaults (all when none): "
                    + ", ".join(BENCHES))
    names = ap.parse_args(argv).names
    if unknown := [name for name in names if name not in BENCHES]:
        ap.error(f"unknown benchmark: {', '.join(unknown)} (choose from {', '.join(BENCHES)})")
    results = {}
    for name in names or list(BENCHES):
        print(f"== {name}", flush=True)
        results[name] = BENCHES[name]()
    print("== summary")
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
