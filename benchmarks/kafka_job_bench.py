"""The signal job on Kafka against a plain SQL job on Kafka, same input, side by side.

    python -m benchmarks.kafka_job_bench [--rows 300000] [--repeats 2]

A local broker (`tradeflow kafka start`'s, on free ports in a temporary directory, 3 partitions)
holds the job benchmark's simulated bars and news (benchmarks/job_bench.py), published through
the project's Kafka backend. Both jobs read them with the Kafka connector from the beginning to
the offsets at start (read-committed, watermarks per partition), on the streaming runtime, at
parallelism 1, and write to Kafka with exactly-once transactions:

* plain: SMA(20) with Flink's built-in AVG over a ROWS window, one row per bar, to a topic;
* full: the product's job as `tradeflow --backend kafka run` submits it, signals out.

Printed: rows/s of each (best of the repeats) and the ratio full / plain.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import best_of, cli, report
from benchmarks.job_bench import PLAIN_SQL, _timed, simulated, submit_sql
from jobs.signal_job import kafka_job
from tradeflow.config import NEWS, PRICES
from tradeflow.processes import free_port
from tradeflow.topics.base import Record
from tradeflow.topics.kafka import KafkaBackend
from tradeflow.topics.local_kafka import LocalKafka

PLAIN_TOPIC = "bench-plain-rows"


def publish_input(servers: str, rows: int) -> int:
    backend = KafkaBackend(servers)
    n = 0
    try:
        for bars, news in simulated(rows):
            backend.publish(PRICES, [Record(b.symbol, b.to_json()) for b in bars])
            if news:
                backend.publish(NEWS, [Record(item.symbols[0], item.to_json()) for item in news])
            n += len(bars)
    finally:
        backend.close()
    return n


def run_full(servers: str) -> tuple[float, float]:
    job = kafka_job("bounded", servers, name="bench-kafka-full")
    return _timed(lambda: job.run(wait=False, runtime="streaming"))


def run_plain(servers: str) -> tuple[float, float]:
    job = kafka_job("bounded", servers, name="bench-kafka-plain")
    return _timed(lambda: submit_sql(job, PLAIN_TOPIC, PLAIN_SQL))


def run(rows: int = 300_000, repeats: int = 2) -> dict:
    from kafka.admin import KafkaAdminClient, NewTopic

    with tempfile.TemporaryDirectory(prefix="tradeflow-kafka-bench-") as work:
        broker = LocalKafka(Path(work), port=free_port(), controller_port=free_port())
        broker.start()
        try:
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
            admin.create_topics([NewTopic(PLAIN_TOPIC, broker.partitions, 1)])
            admin.close()
            n = publish_input(broker.bootstrap_servers, rows)
            jobs = {"plain": run_plain, "full": run_full}
            servers = broker.bootstrap_servers
            best, each = best_of(repeats, jobs, lambda name, _: jobs[name](servers))
        finally:
            broker.stop()
    total = {name: sum(p) for name, p in best.items()}
    result = {
        "rows": n,
        "partitions": broker.partitions,
        **{f"{name}_rows_per_s": round(n / total[name]) for name in total},
        "ratio_full_to_plain": round(total["plain"] / total["full"], 3),
        "best_seconds_startup_run": {name: [round(p, 2) for p in best[name]] for name in best},
        "seconds_each_repeat": each,
    }
    return report(result)


if __name__ == "__main__":
    cli(run, __doc__, "rows", "repeats")
