"""For the job's tests through the command line and on Kafka: the CLI, a Kafka broker of a
test's own (the job's topics have fixed names, so these tests do not share the session's), and
what a read-committed reader sees on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from tradeflow.config import SIGNALS
from tradeflow.processes import free_port
from tradeflow.topics.local_kafka import LocalKafka


def tradeflow(*args: str, env: dict[str, str] | None = None) -> str:
    """`tradeflow *args` in a child process; its output, once it succeeded."""
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", *args], env=env or os.environ,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalKafka]:
    kafka = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    kafka.start()
    yield kafka
    kafka.stop()


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
