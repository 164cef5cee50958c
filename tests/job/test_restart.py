"""Kill the whole local Flink cluster mid-stream and start again: the job resumes from its last
checkpoint and no signal is lost or written twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from jobs.cluster import LocalCluster
from jobs.signal_job import file_job
from jobs.submit import latest_checkpoint

from .stream_time import stream_watermark

pytestmark = pytest.mark.flink
PORT, RPC_PORT = 18082, 16124


def tradeflow(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", *args], env=os.environ,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def records_in(d: Path) -> list[dict]:
    """The JSON records of a topic directory."""
    return [json.loads(line) for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")
            for line in p.read_text().splitlines() if line.strip()]


def wait_stable(d: Path, cluster: LocalCluster, min_count: int, timeout: float = 120) -> list[dict]:
    """Signals once their count stopped growing for a few seconds after a checkpoint."""
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = records_in(d)
        if len(now) != last:
            last, since = len(now), time.monotonic()
        elif len(now) >= min_count and time.monotonic() - since > 6 and latest_checkpoint(cluster.checkpoint_dir):
            return now
        time.sleep(1)
    raise AssertionError(f"signals did not settle: {last} seen")


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
        first = wait_stable(out, cluster, min_count=1)
        for pid in cluster.running():  # a crash: no chance to clean up
            os.kill(pid, signal.SIGKILL)
        time.sleep(1)
        assert not cluster.running()
        tradeflow(*sim)  # the simulator continues with bars 201-400
        tradeflow("flink", "start")
        assert "resumed from" in tradeflow("job", "submit")
        final = wait_stable(out, cluster, min_count=len(first) + 1)
    finally:
        cluster.stop()
    ids = [s["signal_id"] for s in final]
    assert len(ids) == len(set(ids)), "a signal was written twice"
    assert {s["signal_id"] for s in first} <= set(ids)
    # Exactly the signals of one uninterrupted bounded run over the same topic, except the last
    # bars, which the streaming watermark has not passed yet (2024 is history: a whole step).
    copy = tmp_path / "topics"
    for topic in ("stock-prices", "market-news"):
        shutil.copytree(settings.path("topics", topic), copy / topic)
    file_job("bounded", copy).run(wait=True)
    expected = {s["signal_id"]: s["bar_time"] for s in records_in(copy / "trading-signals")}
    passed = stream_watermark(max(datetime.fromisoformat(b["event_time"])
                                  for b in records_in(copy / "stock-prices")
                                  if "event_time" in b))  # the simulator's clocks are no bars
    assert set(ids) <= set(expected)
    assert {k for k, t in expected.items() if datetime.fromisoformat(t) <= passed} <= set(ids)
