"""Dashboard under load: 200 websocket clients while the simulator publishes.

    python -m benchmarks.dashboard_load [--duration 30] [--clients 200] [--speed 600]

Two runs side by side, each in a fresh temporary data dir on the file backend, all traffic on
127.0.0.1: a baseline (dashboard running, no browser) and the loaded run (N clients connected
for the whole duration). Three processes: `tradeflow produce sim --speed S` (5 symbols), the
dashboard (`dashboard.cli`), and this one, which holds the clients. Reported per run: the
simulator's publish rate (bars/s, from what reached the topic), deltas delivered per second
over all clients, delivery latency percentiles (receipt - the server's send time `t`, i.e. the
fan-out; and receipt - `t_in`, when the oldest record in the delta was read from its topic;
the file backend's segment sealing, 0.25 s here, comes on top), and the
server's dropped-message and slow-disconnect counters. Bounded: N clients, `duration` seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.common import cli, report
from tradeflow.config import PRICES

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = "AAPL,MSFT,GOOG,AMZN,SPY"
# The simulator publishes regular-session bars only and its pacer waits through the night, so
# start at an open and keep speed x duration under 6.5 hours to measure a steady rate.
SIM_START = "2024-03-05T14:30:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TRADEFLOW_DATA_DIR": str(data_dir), "TRADEFLOW_BACKEND": "file",
                "TRADEFLOW_FLINK_PORT": "9", "TRADEFLOW_LOG_LEVEL": "WARNING",
                # Seal topic segments 4x a second (default 1 s) so browsers get ~4 deltas/s.
                "TRADEFLOW_FILE_SEGMENT_SECONDS": "0.25",
                "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")})
    return env


def _count_lines(topic_dir: Path) -> int:
    n = 0
    for f in topic_dir.glob("*.ndjson"):
        with open(f, "rb") as fh:
            n += sum(1 for _ in fh)
    return n


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 1)


async def _client(session: aiohttp.ClientSession, url: str, stats: dict, ready: asyncio.Event,
                  stop: asyncio.Event) -> None:
    try:
        async with session.ws_connect(url, max_msg_size=0, heartbeat=None) as ws:
            first = True
            while not stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.5)
                except asyncio.TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    stats["closed"] += 1
                    return
                now = time.time()
                m = json.loads(msg.data)
                stats["bytes"] += len(msg.data)
                if first:
                    first = False
                    stats["snapshots"] += 1
                    if stats["snapshots"] == stats["clients"]:
                        ready.set()
                    continue
                if m["type"] == "delta" and stats["measuring"]:
                    stats["deltas"] += 1
                    stats["lat"].append(now - m["t"])
                    stats["lat_in"].append(now - m["t_in"])
                elif m["type"] == "snapshot":
                    stats["resnapshots"] += 1
    except (aiohttp.ClientError, OSError):
        stats["errors"] += 1


async def _wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("dashboard did not become healthy")


async def _scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
        text = await r.text()
    out = {}
    for line in text.splitlines():
        if line.startswith("tradeflow_dashboard_ws_") and " " in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


async def _one_run(clients: int, duration: float, speed: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="tradeflow-load-") as tmp:
        data = Path(tmp)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        dash = subprocess.Popen(
            [sys.executable, "-c", "from dashboard.cli import dashboard; dashboard()",
             "--host", "127.0.0.1", "--port", str(port), "--start", "latest"],
            env=_env(data), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        sim = None
        try:
            await _wait_healthy(base)
            stats = {"clients": clients, "snapshots": 0, "deltas": 0, "bytes": 0, "lat": [],
                     "lat_in": [], "errors": 0, "closed": 0, "resnapshots": 0,
                     "measuring": False}
            ready, stop = asyncio.Event(), asyncio.Event()
            conn = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=conn) as session:
                tasks = [asyncio.create_task(_client(session, base.replace("http", "ws") + "/ws",
                                                     stats, ready, stop))
                         for _ in range(clients)]
                if clients:
                    await asyncio.wait_for(ready.wait(), 60)
                sim = subprocess.Popen(
                    [sys.executable, "-m", "tradeflow.cli", "produce", "sim", "--speed",
                     str(speed), "--symbols", SYMBOLS, "--seed", "7", "--start", SIM_START],
                    env=_env(data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True)
                stats["measuring"] = True
                started = time.monotonic()
                await asyncio.sleep(duration)
                elapsed = time.monotonic() - started
                stats["measuring"] = False
                os.killpg(sim.pid, signal.SIGTERM)  # it seals what it published and exits
                sim.wait(15)
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
            metrics = await _scrape(base)
            bars = _count_lines(data / "topics" / PRICES)
            lat, lat_in = stats["lat"], stats["lat_in"]
            return {
                "clients": clients, "seconds": round(elapsed, 1),
                "sim_bars_per_s": round(bars / elapsed, 1),
                "deltas_delivered_per_s": round(stats["deltas"] / elapsed, 1),
                "deltas_per_client_per_s": round(stats["deltas"] / elapsed / clients, 2)
                if clients else None,
                "mbytes_per_s": round(stats["bytes"] / elapsed / 1e6, 2),
                "latency_ms_p50": _pct(lat, 0.50), "latency_ms_p95": _pct(lat, 0.95),
                "latency_ms_max": _pct(lat, 1.0),
                "from_topic_read_ms_p50": _pct(lat_in, 0.50),
                "from_topic_read_ms_p95": _pct(lat_in, 0.95),
                "dropped": metrics.get("tradeflow_dashboard_ws_dropped_messages_total", 0.0),
                "slow_disconnects": metrics.get("tradeflow_dashboard_ws_slow_disconnects_total",
                                                0.0),
                "resnapshots": stats["resnapshots"], "client_errors": stats["errors"],
                "mean_deltas_per_client": round(stats["deltas"] / clients, 1) if clients else None,
            }
        finally:
            for proc in (sim, dash):
                if proc is not None and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()


def run(duration: float = 30.0, clients: int = 200, speed: float = 600.0) -> dict:
    """Baseline (no clients) and loaded run side by side; see the module doc."""
    baseline = asyncio.run(_one_run(0, duration, speed))
    loaded = asyncio.run(_one_run(clients, duration, speed))
    ratio = (loaded["sim_bars_per_s"] / baseline["sim_bars_per_s"]
             if baseline["sim_bars_per_s"] else None)
    return {"duration_s": duration, "sim_speed": speed, "symbols": SYMBOLS,
            "baseline": baseline, "loaded": loaded,
            "publish_rate_ratio": round(ratio, 3) if ratio else None,
            "publish_rate_kept": ratio is not None and ratio >= 0.95}


def main() -> None:
    report(cli(run, "dashboard websocket load check", "duration", "clients", "speed",
               speed="simulator speed (simulated seconds per second; 600 = 10 bars/s/symbol)"))


if __name__ == "__main__":
    main()
