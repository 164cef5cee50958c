"""`make bench`: every benchmark, each printing its figures as ratios against a baseline run
side by side (never absolute targets: these machines are shared and noisy)."""

from __future__ import annotations

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


def main(names: list[str]) -> None:
    results = {}
    for name in names or list(BENCHES):
        print(f"== {name}", flush=True)
        results[name] = BENCHES[name]()
    print("== summary")
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
