"""The signal job on a real Kafka broker: the Kafka table connector from Maven Central, three
partitions, read-committed readers, exactly-once transactional sinks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from backtest import run_backtest
from jobs.cluster import LocalCluster
from jobs.signal_job import file_job, kafka_job
from jobs.submit import latest_checkpoint
from tests.conftest import shared_file
from tradeflow.processes import free_port
from tradeflow.config import NEWS, PRICES, SIGNALS
from tradeflow.topics.local_kafka import LocalKafka

from .stream_time import stream_watermark

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

    def settled(at_least: int, timeout: float = 180) -> list[str]:
        """The ids once their count stopped growing for a while after a checkpoint."""
        deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
        while time.monotonic() < deadline:
            now = ids_on(broker.bootstrap_servers)
            if len(now) != last:
                last, since = len(now), time.monotonic()
            elif (len(now) >= at_least and time.monotonic() - since > 6
                  and latest_checkpoint(cluster.checkpoint_dir)):
                return now
            time.sleep(1)
        raise AssertionError(f"signals did not settle: {last} seen")

    try:
        tradeflow(*sim, env=env)
        tradeflow("flink", "start", env=env)
        tradeflow("job", "submit", env=env)
        # Crash mid-stream: as soon as the first transaction is committed, while the job still
        # works through the bars and holds an open transaction.
        deadline = time.monotonic() + 180
        while not (first := ids_on(broker.bootstrap_servers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first, "no signal within 180 s"
        for pid in cluster.running():  # no chance to clean up or commit
            os.kill(pid, signal.SIGKILL)
        while cluster.running():
            time.sleep(0.2)
        tradeflow(*sim, env=env)  # the simulator continues with bars 201-400
        tradeflow("flink", "start", env=env)
        assert "resumed from" in tradeflow("job", "submit", env=env)
        final = settled(at_least=len(first) + 1)
    finally:
        cluster.stop()
    assert len(final) == len(set(final)), "a read-committed reader saw a signal twice"
    assert set(first) <= set(final)
    # Exactly the signals of one uninterrupted bounded run over the same records, but for the
    # last bars, which the stream's watermark has not passed yet (2024 is history: whole steps).
    copy = tmp_path / "topics"
    for topic in (PRICES, NEWS):
        (copy / topic).mkdir(parents=True)
        records = committed(broker.bootstrap_servers, topic)
        (copy / topic / "000000000001.ndjson").write_bytes(b"\n".join(records) + b"\n")
    file_job("bounded", copy).run(wait=True)
    expected = {json.loads(line)["signal_id"]: json.loads(line)["bar_time"]
                for p in (copy / SIGNALS).iterdir() if not p.name.startswith(".")
                for line in p.read_text().splitlines() if line.strip()}
    bars = [b for line in (copy / PRICES / "000000000001.ndjson").open()
            if "event_time" in (b := json.loads(line))]  # the simulator's clocks are not bars
    passed = stream_watermark(max(datetime.fromisoformat(b["event_time"]) for b in bars))
    assert set(final) <= set(expected)
    assert {k for k, t in expected.items() if datetime.fromisoformat(t) <= passed} <= set(final)
