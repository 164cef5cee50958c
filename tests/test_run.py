"""`tradeflow flink start|stop` and `tradeflow run` on a real local Flink cluster."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.cluster import LocalCluster

pytestmark = pytest.mark.flink
# Not 8081/6123/8000, so a developer's own Flink and dashboard are never touched.
PORT, RPC_PORT, DASHBOARD_PORT = 18081, 16123, 18000


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    """A live process (zombies left for an init that does not reap them do not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def tradeflow(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tradeflow.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def env(settings, monkeypatch) -> dict:
    monkeypatch.setenv("TRADEFLOW_FLINK_PORT", str(PORT))
    monkeypatch.setenv("TRADEFLOW_FLINK_RPC_PORT", str(RPC_PORT))
    monkeypatch.setenv("TRADEFLOW_DASHBOARD_PORT", str(DASHBOARD_PORT))
    return {**os.environ}


def test_flink_start_status_stop_ends_exactly_its_processes(env, settings):
    assert not port_open(PORT)
    bystander = subprocess.Popen(["sleep", "60"])  # a process that is not ours
    try:
        started = tradeflow("flink", "start", env=env)
        assert started.returncode == 0, started.stderr
        cluster = LocalCluster(settings.path("flink"), PORT, RPC_PORT)
        pids = cluster.running()
        assert len(pids) == 2
        status = tradeflow("flink", "status", env=env)
        assert "Flink UP" in status.stdout and "taskmanagers=1" in status.stdout
        conf = (settings.path("flink", "conf", "flink-conf.yaml")).read_text()
        assert f"rest.port: {PORT}" in conf and settings.path("flink", "checkpoints").as_uri() in conf
        assert any(settings.path("flink", "log").glob("*.log"))
        stopped = tradeflow("flink", "stop", env=env)
        assert stopped.returncode == 0 and str(pids[0]) in stopped.stdout
        assert not any(alive(p) for p in pids)
        assert bystander.poll() is None
        assert not port_open(PORT)
        assert "DOWN" in tradeflow("flink", "status", env=env).stdout
    finally:
        bystander.kill()
        LocalCluster(settings.path("flink"), PORT, RPC_PORT).stop()


def test_run_starts_the_pipeline_and_ctrl_c_stops_everything(env, settings):
    proc = subprocess.Popen([sys.executable, "-m", "tradeflow.cli", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    prices = settings.path("topics", "stock-prices")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
                port_open(PORT) and prices.exists() and any(prices.glob("0*.ndjson"))):
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
        assert port_open(PORT), "Flink web UI never answered"
        assert any(prices.glob("0*.ndjson")), "the simulator published nothing"
        while time.monotonic() < deadline and not port_open(DASHBOARD_PORT):
            time.sleep(0.5)
        assert port_open(DASHBOARD_PORT), "the dashboard never answered"
        cluster_pids = LocalCluster(settings.path("flink"), PORT, RPC_PORT).running()
        assert cluster_pids
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopping the pipeline" in out
    assert not port_open(PORT) and not port_open(DASHBOARD_PORT)
    assert not any(alive(p) for p in cluster_pids)
    assert (settings.path("logs") / "producer.log").read_text()
