"""Kill the whole local Flink cluster mid-stream and start again: the job resumes from its last
checkpoint and no signal is lost or written twice."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from jobs.cluster import LocalCluster
from tests.conftest import eventually

from .stream_time import records_in, signals_due

pytestmark = pytest.mark.flink
PORT, RPC_PORT = 18082, 16124


def tradeflow(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", *args], env=os.environ,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_killed_cluster_resumes_from_checkpoint_without_duplicates(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("TRADEFLOW_FLINK_PORT", str(PORT))
    monkeypatch.setenv("TRADEFLOW_FLINK_RPC_PORT", str(RPC_PORT))
    cluster = LocalCluster(settings.path("flink"), PORT, RPC_PORT)
    sim = ("produce", "sim", "--symbols", "AAPL,MSFT,SPY", "--seed", "9", "--speed", "0",
           "--start", "2024-01-02T14:30:00Z", "--bars", "200")
    out = settings.path("topics", "trading-signals")
    try:
        tradeflow(*sim)
        tradeflow("flink", "start")
        tradeflow("job", "submit")
        # A crash mid-stream, as soon as a checkpoint committed signals: no chance to clean up.
        eventually(lambda: records_in(out), "no signal committed")
        for pid in cluster.running():
            os.kill(pid, signal.SIGKILL)
        eventually(lambda: not cluster.running(), "the killed cluster's processes never ended")
        first = records_in(out)
        assert first
        tradeflow(*sim)  # the simulator continues with bars 201-400
        tradeflow("flink", "start")
        assert "resumed from" in tradeflow("job", "submit")
        for topic in ("stock-prices", "market-news"):  # meanwhile, what it must write
            shutil.copytree(settings.path("topics", topic), tmp_path / topic)
        every, due = signals_due(tmp_path)

        def all_due() -> list[dict] | None:
            now = records_in(out)
            return now if due <= {s["signal_id"] for s in now} else None

        final = eventually(all_due, "the resumed job never wrote every due signal")
    finally:
        cluster.stop()
    ids = [s["signal_id"] for s in final]
    assert len(ids) == len(set(ids)), "a signal was written twice"
    assert {s["signal_id"] for s in first} <= set(ids) <= every
