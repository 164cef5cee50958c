"""The signal job on a real Kafka broker: the Kafka table connector from Maven Central, three
partitions, read-committed readers, exactly-once transactional sinks (a crash and its recovery:
test_kill_and_resume.py)."""

from __future__ import annotations

import json
import os

import pytest

from backtest.run import run_backtest
from jobs.signal_job import kafka_job
from tests.conftest import shared_file

from .conftest import committed, ids_on, tradeflow

pytestmark = pytest.mark.flink
LEAN_MINUTES = "lean-us-equity-minute/lean_minute_trade_bars.csv"


def test_streaming_job_on_kafka_gives_the_bounded_file_runs_signal_ids(broker, tmp_path):
    prices = shared_file(LEAN_MINUTES)
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(tmp_path / "data"),
           "TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
    # The replay keys each bar by its symbol: one symbol's bars share a partition, in order.
    tradeflow("--backend", "kafka", "produce", "replay", "--prices", str(prices), "--speed", "0",
              env=env)
    # The streaming runtime (watermarks per partition, checkpoints, transactions) over the topics
    # as they stand, ending with them; parallelism 2 over 3 partitions.
    kafka_job("bounded", broker.bootstrap_servers, name="test-kafka", parallelism=2).run(
        runtime="streaming")
    got = ids_on(broker.bootstrap_servers)
    # Per-partition watermarks: bars of two partitions read by one subtask are never "late".
    assert committed(broker.bootstrap_servers, "dead-letter") == []
    expected = tmp_path / "bounded"
    run_backtest([prices], [], expected)
    want = [json.loads(line)["signal_id"] for line in (expected / "signals.jsonl").open()]
    assert len(want) > 1000
    assert len(got) == len(set(got)), "a signal was written twice"
    assert sorted(got) == sorted(want)
