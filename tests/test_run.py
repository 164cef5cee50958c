"""`tradeflow flink start|stop` and `tradeflow run` on a real local Flink cluster, on the file
backend and on the kafka backend with the local broker `run` starts itself."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jobs.cluster import LocalCluster, flink_config
from jobs.submit import JOB_NAME
from tests.conftest import eventually, processes_mentioning
from tradeflow.processes import alive, free_port, port_in_use
from tradeflow.config import ORDERS, SIGNALS, get_settings, port_range
from tradeflow.topics import open_backend
from tradeflow.topics.local_kafka import LocalKafka

pytestmark = pytest.mark.flink
# Not 8081/6123/8000, so a developer's own Flink and dashboard are never touched.
PORT, RPC_PORT, DASHBOARD_PORT = 18081, 16123, 18000


def listeners(pids: list[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket these processes listen on, from /proc (IPv4-mapped
    IPv6 addresses as IPv4)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            addr_hex, port_hex = fields[1].split(":")
            # The kernel prints each 32-bit word of the address in host byte order (little-endian
            # on x86-64 and arm64).
            raw = b"".join(bytes.fromhex(addr_hex[i:i + 8])[::-1] for i in range(0, len(addr_hex), 8))
            addr = ipaddress.ip_address(raw)
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            found.add((str(addr), int(port_hex, 16)))
    return found


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
    assert not port_in_use(PORT)
    bystander = subprocess.Popen(["sleep", "60"])  # a process that is not ours
    try:
        started = tradeflow("flink", "start", env=env)
        assert started.returncode == 0, started.stderr
        cluster = LocalCluster(settings.path("flink"), PORT, RPC_PORT)
        pids = cluster.running()
        assert len(pids) == 2
        status = tradeflow("flink", "status", env=env)
        assert "Flink UP" in status.stdout and "taskmanagers=1" in status.stdout
        conf = flink_config(settings.path("flink", "conf", "config.yaml"))
        assert conf["rest.port"] == PORT
        assert conf["execution.checkpointing.dir"] == settings.path("flink", "checkpoints").as_uri()
        # Every server of the cluster listens on 127.0.0.1, on its two ports or in the range.
        first, last = port_range(settings.flink_port_range)
        served = listeners(pids)
        assert {("127.0.0.1", PORT), ("127.0.0.1", RPC_PORT)} <= served
        assert {addr for addr, _ in served} == {"127.0.0.1"}, served
        assert all(p in (PORT, RPC_PORT) or first <= p <= last for _, p in served), served
        assert any(settings.path("flink", "log").glob("*.log"))
        stopped = tradeflow("flink", "stop", env=env)
        assert stopped.returncode == 0 and str(pids[0]) in stopped.stdout
        assert not any(alive(p) for p in pids)
        assert bystander.poll() is None
        assert not port_in_use(PORT)
        assert "DOWN" in tradeflow("flink", "status", env=env).stdout
    finally:
        bystander.kill()
        LocalCluster(settings.path("flink"), PORT, RPC_PORT).stop()


def test_run_starts_the_pipeline_and_ctrl_c_stops_everything(env, settings):
    base = free_port()
    env = {**env, "TRADEFLOW_METRICS_PORT_BASE": str(base)}
    proc = subprocess.Popen([sys.executable, "-m", "tradeflow.cli", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    prices = settings.path("topics", "stock-prices")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(x) for x in proc.stdout], daemon=True)
    reader.start()

    def up(check):
        assert proc.poll() is None, "".join(lines)
        return check()

    def metrics_urls() -> dict[str, int]:
        found = (re.search(r"tradeflow\.run: (producer|consumer): "
                           r"http://127\.0\.0\.1:(\d+)/metrics", x) for x in list(lines))
        return {m[1]: int(m[2]) for m in found if m}

    try:
        eventually(lambda: up(lambda: port_in_use(PORT) and prices.exists()
                              and any(prices.glob("0*.ndjson"))),
                   "the Flink web UI up and the simulator publishing", timeout=120)
        eventually(lambda: up(lambda: port_in_use(DASHBOARD_PORT)), "the dashboard answering",
                   timeout=60)
        # The producer and the consumer got metrics ports from the base, printed once the
        # pipeline is up; both are healthy while the simulator feeds stock-prices.
        urls = eventually(lambda: up(lambda: len(metrics_urls()) == 2 and metrics_urls()),
                          "the metrics addresses printed", timeout=60)
        ports = [urls["producer"], urls["consumer"]]
        assert base <= ports[0] < ports[1]
        for port in ports:
            eventually(lambda: up(lambda: healthz(port) == 200), f"/healthz on {port}",
                       timeout=60)
        cluster_pids = LocalCluster(settings.path("flink"), PORT, RPC_PORT).running()
        assert cluster_pids
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert "stopping the pipeline" in out
    assert not port_in_use(PORT) and not port_in_use(DASHBOARD_PORT)
    assert not any(port_in_use(p) for p in ports)
    assert not any(alive(p) for p in cluster_pids)
    assert (settings.path("logs") / "producer.log").read_text()


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def flink_jobs(port: int) -> list[dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/jobs/overview", timeout=5) as resp:
            return json.load(resp)["jobs"]
    except OSError:
        return []


def test_kafka_run_starts_its_broker_and_ctrl_c_frees_every_port(settings, monkeypatch):
    """`tradeflow --backend kafka run` with no TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS: its own broker,
    the cluster, the job on Kafka, a finite simulation passed through `--`, the consumer and the
    dashboard; Ctrl-C stops all of it and frees every port, the broker's included."""
    ports = {name: free_port() for name in ("TRADEFLOW_KAFKA_PORT", "TRADEFLOW_KAFKA_CONTROLLER_PORT",
                                            "TRADEFLOW_FLINK_PORT", "TRADEFLOW_FLINK_RPC_PORT",
                                            "TRADEFLOW_DASHBOARD_PORT")}
    for name, port in ports.items():
        monkeypatch.setenv(name, str(port))
    monkeypatch.delenv("TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("TRADEFLOW_BACKEND", "kafka")
    get_settings.cache_clear()
    s = get_settings()
    broker, cluster = LocalKafka.from_settings(s), LocalCluster.from_settings(s)
    assert not any(port_in_use(p) for p in ports.values())
    sim = ["--symbols", "AAPL,MSFT,SPY", "--seed", "9", "--speed", "0",
           "--start", "2024-01-02T14:30:00Z", "--bars", "300"]
    proc = subprocess.Popen([sys.executable, "-m", "tradeflow.cli", "--backend", "kafka", "run",
                             "--producer", "sim", "--", *sim], env={**os.environ},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    broker_pid, cluster_pids = None, []
    try:
        try:
            def up(check):
                assert proc.poll() is None, proc.stdout.read()
                return check()

            eventually(lambda: up(lambda: broker.pid() and port_in_use(s.kafka_port)),
                       "the run's Kafka broker serving", timeout=120)
            broker_pid = broker.pid()
            assert broker_pid is not None, "the run started no Kafka broker"
            assert port_in_use(s.kafka_port), "the broker never served"
            assert s.kafka_servers == broker.bootstrap_servers
            eventually(lambda: up(lambda: [j for j in flink_jobs(cluster.port)
                                           if j["name"] == JOB_NAME and j["state"] == "RUNNING"]),
                       f"{JOB_NAME} RUNNING", timeout=240, every=1)
            cluster_pids = cluster.running()
            # Through the kafka backend, as the consumer and the dashboard read them.
            backend = open_backend("kafka", s)
            subs = {t: backend.subscribe(t, f"test-run-{t}") for t in (SIGNALS, ORDERS)}
            seen: dict[str, list[bytes]] = {SIGNALS: [], ORDERS: []}
            def signals_and_orders() -> bool:
                for topic, sub in subs.items():
                    seen[topic] += [m.value for m in sub.poll(max_records=1000, timeout=0.5)]
                return all(seen.values())

            try:
                eventually(lambda: up(signals_and_orders), "signals and orders on Kafka",
                           timeout=240, every=0)
            finally:
                for sub in subs.values():
                    sub.close()
                backend.close()
            assert seen[SIGNALS], "no signal on trading-signals"
            assert {json.loads(v)["symbol"] for v in seen[SIGNALS]} <= {"AAPL", "MSFT", "SPY"}
            assert seen[ORDERS], "signals, but no order on orders"
            eventually(lambda: port_in_use(ports["TRADEFLOW_DASHBOARD_PORT"]),
                       "the dashboard answering", timeout=120)
        finally:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        assert "producer finished" in out  # 300 bars published; the rest kept running
        assert "stopping the pipeline" in out
        assert not [p for p in ports.values() if port_in_use(p)], out
        assert not alive(broker_pid) and processes_mentioning(str(broker.config_file)) == []
        assert not any(alive(p) for p in cluster_pids)
        assert "DOWN" in tradeflow("kafka", "status", env={**os.environ}).stdout
    finally:  # nothing left behind, whatever failed above
        broker.stop()
        cluster.stop()
