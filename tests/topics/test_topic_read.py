"""`tradeflow topic read`: the real command in a subprocess, on every backend (files in a temp
data dir, the session's real Kafka broker, Kinesis on a real moto server via AWS_ENDPOINT_URL).

Each test writes with the backend itself, in this process, to a topic of its own, and checks what
the command prints, when it stops and how it exits, and that no consumer group's position moves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import REPO_ROOT, eventually
from tradeflow.processes import free_port
from tradeflow.topics.base import Backend, Record

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

REGION = "us-east-1"
BACKENDS = ["file", "kafka", "kinesis"]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRADEFLOW_", "AWS_"))}
    env["TRADEFLOW_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


@dataclass
class Case:
    """One backend, a topic of this test's own on it, and how to run the command against it."""

    backend_name: str
    backend: Backend
    topic: str
    data_dir: Path
    env: dict[str, str]
    servers: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def args(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tradeflow.cli", "--backend", self.backend_name,
                "topic", "read", *args]

    def cli(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run(self.args(*args), env=self.env, capture_output=True,
                              timeout=timeout, cwd=REPO_ROOT)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.args(*args), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=REPO_ROOT)

    def publish(self, values: list[bytes]) -> None:
        symbols = ["AAPL", "MSFT", "GOOG", "SPY", "NVDA"]
        self.backend.publish(self.topic, [Record(symbols[i % 5], v) for i, v in enumerate(values)])
        self.backend.flush()  # file backend: seal, so readers see them now

    def group_state(self, group: str) -> object:
        """Everything that records `group`'s position on this backend."""
        if self.backend_name == "kafka":
            from kafka.admin import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=self.servers, client_id="test-admin")
            try:
                return (admin.list_group_offsets(group)[group],
                        sorted(g["group_id"] for g in admin.list_groups()))
            finally:
                admin.close()
        root = self.data_dir / "positions"
        return sorted((str(p.relative_to(root)), p.read_bytes())
                      for p in root.rglob("*") if p.is_file())


def values(n: int, tag: str = "v") -> list[bytes]:
    # Odd spacing on purpose: the command prints the value as it is, not re-encoded JSON.
    return [f'{{"i": {i},  "tag":"{tag}"}}'.encode() for i in range(n)]


@pytest.fixture(params=BACKENDS)
def case(request, tmp_path) -> Iterator[Case]:
    name = request.param
    data_dir = tmp_path / "data"
    env = base_env(data_dir)
    topic = f"t-{uuid.uuid4().hex[:10]}"
    if name == "file":
        from tradeflow.topics.file import FileBackend

        backend = FileBackend(data_dir)
        yield Case(name, backend, topic, data_dir, env)
    elif name == "kafka":
        from kafka.admin import KafkaAdminClient, NewTopic

        from tradeflow.topics.kafka import KafkaBackend

        broker = request.getfixturevalue("kafka_broker")
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, client_id="test")
        try:
            admin.create_topics([NewTopic(topic, 3, 1)])
        finally:
            admin.close()
        env["TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        backend = KafkaBackend(broker.bootstrap_servers)
        yield Case(name, backend, topic, data_dir, env, servers=broker.bootstrap_servers)
    else:
        from tradeflow.topics.kinesis import KinesisBackend
        from tradeflow.topics.positions import PositionStore

        request.getfixturevalue("aws_env")  # fake credentials in this process
        url = request.getfixturevalue("moto_url")
        aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": url,
               "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
               "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        env.update(aws)
        client = boto3.client("kinesis", region_name=REGION, endpoint_url=url)
        client.create_stream(StreamName=topic, ShardCount=2)
        client.get_waiter("stream_exists").wait(StreamName=topic,
                                                WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
        # The same positions folder as the command's (open_backend's) own.
        backend = KinesisBackend(REGION, url, "", idle_poll_seconds=0.05,
                                 positions=PositionStore(data_dir / "positions" / "kinesis"))
        yield Case(name, backend, topic, data_dir, env)
    backend.close()


def lines(proc: subprocess.CompletedProcess) -> list[bytes]:
    return proc.stdout.splitlines()


class Running:
    """The command started with `Case.popen`: `lines` collects what it prints, as it prints it;
    leaving the block kills it if it still runs."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def __enter__(self) -> "Running":
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()


def poll_subscription(sub, n: int, within: float = 30.0) -> list[bytes]:
    out: list[bytes] = []
    deadline = time.monotonic() + within
    while len(out) < n and time.monotonic() < deadline:
        out += [m.value for m in sub.poll(max_records=n - len(out), timeout=0.3)]
    return out


# --- reading ------------------------------------------------------------------------------------

def test_from_beginning_prints_every_value_as_it_is_and_exits_once_quiet(case):
    sent = values(40)
    case.publish(sent)
    proc = case.cli(case.topic, "--from-beginning")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    got = lines(proc)
    assert sorted(got) == sorted(sent)  # every record once, byte for byte, one per line
    assert proc.stdout.endswith(b"\n")
    if case.backend_name == "file":
        assert got == sent  # one writer, one segment: publish order


def test_max_stops_after_n_records(case):
    case.publish(values(30))
    proc = case.cli(case.topic, "--from-beginning", "--max", "7", "--timeout", "60")
    assert proc.returncode == 0, proc.stderr
    got = lines(proc)
    assert len(got) == 7 and set(got) <= set(values(30))


# How long --timeout waits, and from when, is test_copy_records.py's (on a fake clock).
def test_without_from_beginning_older_records_are_not_printed(case):
    case.publish(values(10, tag="old"))
    proc = case.cli(case.topic, "--timeout", "1.5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b""


def test_timeout_prints_records_published_while_it_waits(case):
    case.publish(values(5))
    with Running(case.popen(case.topic, "--from-beginning", "--timeout", "600")) as run:
        eventually(lambda: len(run.lines) >= 5, "the first 5 records printed", timeout=60)
        case.publish([b'{"during": "the wait"}'])
        eventually(lambda: len(run.lines) >= 6, "the record published meanwhile printed",
                   timeout=60)
        assert run.proc.poll() is None  # still waiting: nothing arrived for 600 s yet
        run.proc.send_signal(signal.SIGINT)
        assert run.proc.wait(timeout=30) == 0, run.proc.stderr.read()
    assert sorted(run.lines) == sorted([v + b"\n" for v in values(5)]
                                       + [b'{"during": "the wait"}\n'])


# SIGTERM once: the signal handling is the command's own, the same on every backend.
@pytest.mark.parametrize("case, sig", [(b, signal.SIGINT) for b in BACKENDS]
                         + [("file", signal.SIGTERM)],
                         ids=[f"{b}-SIGINT" for b in BACKENDS] + ["file-SIGTERM"],
                         indirect=["case"])
def test_follow_prints_new_records_as_they_arrive_until_a_signal(case, sig):
    case.publish(values(3, tag="old"))
    with Running(case.popen(case.topic, "--follow")) as run:
        # The command only prints what arrives after it has opened the topic, and this test
        # cannot see when that is: publish a new record now and then until one is printed.
        sent: list[bytes] = []

        def printed_one() -> bool:
            assert run.proc.poll() is None, run.proc.stderr.read()
            if not run.lines:
                sent.append(json.dumps({"new": len(sent)}).encode())
                case.publish([sent[-1]])
            return bool(run.lines)

        eventually(printed_one, "a record printed", timeout=60, every=0.5)
        assert run.lines[0].rstrip(b"\n") in sent
        # It keeps following: a record published now shows up too.
        case.publish([b'{"last": true}'])
        eventually(lambda: b'{"last": true}\n' in run.lines, "the last record printed",
                   timeout=60)
        assert not any(b'"old"' in x for x in run.lines)
        assert run.proc.poll() is None  # still following
        run.proc.send_signal(sig)
        assert run.proc.wait(timeout=30) == 0, run.proc.stderr.read()


def test_reading_moves_no_consumer_groups_position(case):
    case.publish(values(20))
    with case.backend.subscribe(case.topic, "g-app") as sub:
        first = poll_subscription(sub, 8)
        assert len(first) == 8
        sub.commit()
    before = case.group_state("g-app")
    for args, printed in ((("--from-beginning",), 20), (("--max", "3", "--timeout", "0.5"), 0)):
        proc = case.cli(case.topic, *args)
        assert proc.returncode == 0, proc.stderr
        assert len(lines(proc)) == printed
    assert case.group_state("g-app") == before
    # The group resumes exactly where it was.
    with case.backend.subscribe(case.topic, "g-app") as sub:
        rest = poll_subscription(sub, 12)
        assert poll_subscription(sub, 1, within=1.0) == []
    assert sorted(first + rest) == sorted(values(20))


# --- errors and usage ---------------------------------------------------------------------------

def test_unknown_topic_is_a_one_line_error(case):
    proc = case.cli("no-such-topic")
    assert proc.returncode == 1
    assert proc.stdout == b""
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and "no-such-topic" in err[0], err


@pytest.mark.parametrize("which", ["kafka", "kinesis"])
def test_unreachable_backend_is_a_one_line_error(which, tmp_path):
    env = base_env(tmp_path / "data")
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    if which == "kafka":
        env["TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS"] = closed
    else:
        env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_REGION": REGION, "AWS_ENDPOINT_URL": f"http://{closed}",
                    "AWS_CONFIG_FILE": str(tmp_path / "none"), "NO_PROXY": "127.0.0.1",
                    "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", "--backend", which, "topic",
                           "read", "stock-prices"], env=env, capture_output=True, timeout=120,
                          cwd=REPO_ROOT)
    assert proc.returncode == 1
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and closed in err[0], err


@pytest.mark.parametrize("args", [("--follow", "--timeout", "1"), ("--max", "0"),
                                  ("--timeout", "-1"), ()],
                         ids=["follow+timeout", "max0", "negative-timeout", "no-topic"])
def test_bad_usage_exits_2(args, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", "topic", "read", *args,
                           *(["stock-prices"] if args else [])],
                          env=base_env(tmp_path / "data"), capture_output=True, timeout=60,
                          cwd=REPO_ROOT)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == b""


def test_file_backend_reading_a_topic_not_yet_written_creates_nothing(tmp_path):
    data = tmp_path / "data"
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", "--backend", "file", "topic",
                           "read", "stock-prices", "--from-beginning", "--timeout", "0.3"],
                          env=base_env(data), capture_output=True, timeout=60, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b""
    assert not data.exists()  # no topic directory, no positions
