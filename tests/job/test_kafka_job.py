"""The signal job on a real Kafka broker: the Kafka table connector from Maven Central, three
partitions, read-committed readers, exactly-once transactional sinks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from backtest import run_backtest
from jobs.cluster import LocalCluster
from jobs.signal_job import kafka_job
from tests.conftest import eventually, shared_file
from tradeflow.processes import free_port
from tradeflow.config import NEWS, PRICES, SIGNALS
from tradeflow.topics.local_kafka import LocalKafka

from .stream_time import signals_due

pytestmark = pytest.mark.flink
LEAN_MINUTES = "lean-us-equity-minute/lean_minute_trade_bars.csv"
PORT, RPC_PORT = 18083, 16125


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test's own (the job's topics have fixed names)."""
    kafka = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    kafka.start()
    yield kafka
    kafka.stop()


def tradeflow(*args: str, env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def committed(servers: str, topic: str) -> list[bytes]:
    """Every record of `topic` a read-committed reader sees, up to the end, in no group."""
    consumer = KafkaConsumer(bootstrap_servers=servers, isolation_level="read_committed",
                             enable_auto_commit=False, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(parts)  # the last stable offset under read_committed
        out: list[bytes] = []
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                out += [m.value for m in batch]
        return out
    finally:
        consumer.close()


def ids_on(servers: str, topic: str = SIGNALS) -> list[str]:
    return [json.loads(v)["signal_id"] for v in committed(servers, topic)]


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


def test_killed_cluster_resumes_on_kafka_without_lost_or_repeated_signals(broker, settings,
                                                                           monkeypatch, tmp_path):
    for name, value in (("TRADEFLOW_FLINK_PORT", PORT), ("TRADEFLOW_FLINK_RPC_PORT", RPC_PORT),
                        ("TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers)):
        monkeypatch.setenv(name, str(value))
    env = {**os.environ, "TRADEFLOW_BACKEND": "kafka"}
    cluster = LocalCluster(settings.path("flink"), PORT, RPC_PORT)
    sim = ("produce", "sim", "--symbols", "AAPL,MSFT,SPY", "--seed", "9", "--speed", "0",
           "--start", "2024-01-02T14:30:00Z", "--bars", "200")

    try:
        tradeflow(*sim, env=env)
        tradeflow("flink", "start", env=env)
        tradeflow("job", "submit", env=env)
        # Crash mid-stream: as soon as the first transaction is committed, while the job still
        # works through the bars and holds an open transaction.
        first = eventually(lambda: ids_on(broker.bootstrap_servers), "no signal committed")
        for pid in cluster.running():  # no chance to clean up or commit
            os.kill(pid, signal.SIGKILL)
        eventually(lambda: not cluster.running(), "the killed cluster's processes never ended")
        tradeflow(*sim, env=env)  # the simulator continues with bars 201-400
        tradeflow("flink", "start", env=env)
        assert "resumed from" in tradeflow("job", "submit", env=env)
        for topic in (PRICES, NEWS):  # meanwhile, what it must write
            (tmp_path / topic).mkdir()
            records = committed(broker.bootstrap_servers, topic)
            (tmp_path / topic / "000000000001.ndjson").write_bytes(b"\n".join(records) + b"\n")
        every, due = signals_due(tmp_path)
        final = eventually(lambda: (ids := ids_on(broker.bootstrap_servers)) and due <= set(ids)
                           and ids, "the resumed job never committed every due signal")
    finally:
        cluster.stop()
    assert len(final) == len(set(final)), "a read-committed reader saw a signal twice"
    assert set(first) <= set(final) <= every
