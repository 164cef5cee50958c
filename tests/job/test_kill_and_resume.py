"""Kill the whole local Flink cluster mid-stream and start it again, on the file backend and on
a real Kafka broker: the job resumes from its last checkpoint, and no signal is lost or written
twice (on Kafka, as a read-committed reader sees the transactional sink's output)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from jobs.cluster import LocalCluster
from tests.conftest import eventually
from tradeflow.config import PRICES
from tradeflow.contracts import is_clock

from .conftest import committed, ids_on, tradeflow
from .stream_time import records_in, signals_due

pytestmark = pytest.mark.flink
SIM = ("produce", "sim", "--symbols", "AAPL,MSFT,SPY", "--seed", "9", "--speed", "0",
       "--start", "2024-01-02T14:30:00Z", "--bars", "200")


def bars(lines: list[bytes]) -> list[bytes]:
    return sorted(v for v in lines if v.strip() and not is_clock(v))


@pytest.fixture(scope="module")
def sim_topics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The topics of SIM run twice (the simulator goes on where it stopped: bars 1-400), once for
    both tests: the simulator is seeded, so each test's own stream carries these very bars (each
    checks it does)."""
    data = tmp_path_factory.mktemp("sim")
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(data), "TRADEFLOW_BACKEND": "file"}
    tradeflow(*SIM, env=env)
    tradeflow(*SIM, env=env)
    return data / "topics"


@pytest.fixture(scope="module")
def expected(sim_topics: Path) -> tuple[set[str], set[str]]:
    """Every signal one uninterrupted bounded run over the 400 bars gives, and those a stream
    must have written once it has read them all."""
    return signals_due(sim_topics)


def sim_bars(sim_topics: Path) -> list[bytes]:
    return bars([line for p in sorted((sim_topics / PRICES).iterdir()) if p.is_file()
                 and not p.name.startswith(".") for line in p.read_bytes().splitlines()])


def kill(cluster: LocalCluster) -> None:
    """A crash: no chance to clean up, commit or checkpoint."""
    for pid in cluster.running():
        os.kill(pid, signal.SIGKILL)
    eventually(lambda: not cluster.running(), "the killed cluster's processes never ended")


def errors_logged(cluster: LocalCluster) -> list[str]:
    """The ERROR lines and exceptions in the cluster's logs (for a failure's message)."""
    return [line for log in sorted(cluster.log_dir.glob("*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if " ERROR " in line or "Exception" in line]


def test_file_backend_resumes_from_checkpoint_without_duplicates(settings, monkeypatch,
                                                                 sim_topics, expected):
    port, rpc_port = 18082, 16124
    monkeypatch.setenv("TRADEFLOW_FLINK_PORT", str(port))
    monkeypatch.setenv("TRADEFLOW_FLINK_RPC_PORT", str(rpc_port))
    cluster = LocalCluster(settings.path("flink"), port, rpc_port)
    out = settings.path("topics", "trading-signals")
    every, due = expected
    try:
        tradeflow(*SIM)
        tradeflow("flink", "start")
        tradeflow("job", "submit")
        # A crash mid-stream, as soon as a checkpoint committed signals.
        eventually(lambda: records_in(out), "no signal committed")
        kill(cluster)
        first = records_in(out)
        assert first
        tradeflow(*SIM)  # the simulator continues with bars 201-400
        tradeflow("flink", "start")
        assert "resumed from" in tradeflow("job", "submit")
        prices = settings.path("topics", PRICES)
        assert bars([line for p in sorted(prices.iterdir()) if p.is_file()
                     for line in p.read_bytes().splitlines()]) == sim_bars(sim_topics)

        def all_due() -> list[dict] | None:
            now = records_in(out)
            return now if due <= {s["signal_id"] for s in now} else None

        try:
            final = eventually(all_due, "the resumed job never wrote every due signal")
        except AssertionError as err:  # lost or only late? say which, and what the job saw
            now = records_in(out)
            missing = sorted(due - {s["signal_id"] for s in now})
            raise AssertionError(
                f"{err}: {len(missing)} of {len(due)} missing, e.g. {missing[:3]}; newest written "
                f"bar {max((s['bar_time'] for s in now), default=None)}; dead-letter "
                f"{records_in(settings.path('topics', 'dead-letter'))[:3]}; the cluster's errors:\n"
                + "\n".join(errors_logged(cluster)[-20:])) from None
    finally:
        cluster.stop()
    ids = [s["signal_id"] for s in final]
    assert len(ids) == len(set(ids)), "a signal was written twice"
    assert {s["signal_id"] for s in first} <= set(ids) <= every
    assert records_in(settings.path("topics", "dead-letter")) == []  # no bar came late


def test_kafka_resumes_without_lost_or_repeated_signals(broker, settings, monkeypatch,
                                                        sim_topics, expected):
    port, rpc_port = 18083, 16125
    for name, value in (("TRADEFLOW_FLINK_PORT", port), ("TRADEFLOW_FLINK_RPC_PORT", rpc_port),
                        ("TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers)):
        monkeypatch.setenv(name, str(value))
    env = {**os.environ, "TRADEFLOW_BACKEND": "kafka"}
    cluster = LocalCluster(settings.path("flink"), port, rpc_port)
    servers = broker.bootstrap_servers
    every, due = expected
    try:
        tradeflow(*SIM, env=env)
        tradeflow("flink", "start", env=env)
        tradeflow("job", "submit", env=env)
        # Crash as soon as the first transaction is committed, while the job still works
        # through the bars and holds an open transaction.
        first = eventually(lambda: ids_on(servers), "no signal committed")
        kill(cluster)
        tradeflow(*SIM, env=env)  # the simulator continues with bars 201-400
        tradeflow("flink", "start", env=env)
        assert "resumed from" in tradeflow("job", "submit", env=env)
        assert bars(committed(servers, PRICES)) == sim_bars(sim_topics)
        final = eventually(lambda: (ids := ids_on(servers)) and due <= set(ids) and ids,
                           "the resumed job never committed every due signal")
    finally:
        cluster.stop()
    assert len(final) == len(set(final)), "a read-committed reader saw a signal twice"
    assert set(first) <= set(final) <= every
    # Caught up from a backlog, no partition went idle under it: no bar came late.
    late = [json.loads(v)["reason"] for v in committed(servers, "dead-letter")]
    assert late == []
