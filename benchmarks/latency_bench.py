"""Live latency at real speed: a bar's end to its signal visible, and to the order decided.

    python -m benchmarks.latency_bench [--minutes 4] [--symbols 30] [--backends file,kafka]

For each backend: the live simulator (`tradeflow produce sim --live`: 30 symbols, bars stamped
with the wall clock and published as each minute ends, with its clocks, after a backfill that
warms the indicators) feeds the streaming signal job as `tradeflow run` submits it (a mini-cluster
in this process, the job's own runtime settings), and the consumer engine (paper broker, wall
clock, market hours off) decides each signal. Side by side on the same bars runs the floor of the
transport: a pass-through job on the same source table and the same kind of sink, which has no
window to wait for. Readers outside any group note the wall time each record becomes visible
(read-committed on Kafka).

Printed per backend, over the live bars only: bar end -> signal visible, bar end -> order
decided, bar end -> floor row visible; p50, p95, p99 and max in seconds, with the counts.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.common import cli, report
from benchmarks.job_bench import indicator_rows_insert, submit_sql
from jobs.signal_job import file_job, kafka_job
from producers.cli import run_simulator
from producers.market_sim import MarketSimulator, SimConfig
from producers.pacing import WallClock
from producers.sink import Publisher
from tradeflow.config import PRICES, SIGNALS, ConsumerSettings, Settings
from tradeflow.contracts import is_clock
from tradeflow.processes import free_port
from tradeflow.topics import Backend, open_backend

FLOOR = "latency-floor"
FLOOR_SQL = indicator_rows_insert("symbol", "event_time", "`close`",
                                  where="WHERE event_time IS NOT NULL")
HISTORY_BARS = 70  # the job signals from bar 51 on


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Watcher(threading.Thread):
    """Notes when each record of a topic becomes visible to a reader outside any group."""

    def __init__(self, backend: Backend, topic: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.backend, self.topic, self.stop = backend, topic, stop
        self.seen: list[tuple[float, dict]] = []
        self.ready = threading.Event()

    def run(self) -> None:
        with self.backend.read(self.topic, from_beginning=True) as reader:
            self.ready.set()
            while not self.stop.is_set():
                batch = reader.poll(1000, timeout=0.05)
                now = time.time()
                self.seen += [(now, json.loads(m.value)) for m in batch if not is_clock(m.value)]


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"n": len(values), "p50": round(q[49], 3), "p95": round(q[94], 3),
            "p99": round(q[98], 3), "max": round(max(values), 3)}


def run_backend(name: str, minutes: int, symbols: int, work: Path) -> dict:
    env = {"TRADEFLOW_DATA_DIR": str(work), "TRADEFLOW_BACKEND": name}
    broker = None
    if name == "kafka":
        from kafka.admin import KafkaAdminClient, NewTopic

        from tradeflow.topics.local_kafka import LocalKafka

        broker = LocalKafka(work / "kafka", port=free_port(), controller_port=free_port())
        broker.start()
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        admin.create_topics([NewTopic(FLOOR, broker.partitions, 1)])
        admin.close()
        env["TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
    shared = Settings(**env)
    consumer_settings = ConsumerSettings(**{
        "TRADEFLOW_BROKER": "paper", "TRADEFLOW_RISK_CLOCK": "wall",
        "TRADEFLOW_RISK_MARKET_HOURS": "false", "TRADEFLOW_RISK_COOLDOWN_SECONDS": "0"})
    stop = threading.Event()
    results = []
    try:
        if name == "kafka":
            job = kafka_job("streaming", shared.kafka_servers, name="bench-latency")
        else:
            job = file_job("streaming", shared.path("topics"), name="bench-latency")
            (shared.path("topics") / FLOOR).mkdir(parents=True, exist_ok=True)
        floor_sink = FLOOR if name == "kafka" else str(shared.path("topics", FLOOR))
        results = [job.run(wait=False), submit_sql(job, floor_sink, FLOOR_SQL)]
        watchers = {topic: Watcher(open_backend(name, shared), topic, stop)
                    for topic in (SIGNALS, FLOOR)}
        for w in watchers.values():
            w.start()
            w.ready.wait(30)
        decided: list[tuple[float, datetime]] = []
        consumer_thread = threading.Thread(target=_consume, daemon=True,
                                           args=(shared, consumer_settings, stop, decided))
        consumer_thread.start()
        names = [f"S{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(symbols)]
        config = SimConfig(session_only=False)
        now = datetime.now(timezone.utc)
        live_from = now.replace(second=0, microsecond=0)
        sim = MarketSimulator(names, seed=3, config=config,
                              start=now - timedelta(minutes=HISTORY_BARS))
        backend = open_backend(name, shared)
        pub = Publisher(backend, "bench-sim")
        # The backfill's bars and then `minutes` live ones, each right after it ends.
        run_simulator(sim, WallClock(config.bar_seconds), pub,
                      bars=HISTORY_BARS + minutes, heartbeat_every=shared.clock_heartbeat_seconds)
        time.sleep(5)  # the last bar's signal and order
        stop.set()
        consumer_thread.join(10)
        backend.close()
    finally:
        stop.set()
        for r in results:
            try:
                r.get_job_client().cancel().result()
            except Exception:  # noqa: BLE001 - a job that already ended
                pass
        if broker:
            broker.stop()
    live = [(t, s) for t, s in watchers[SIGNALS].seen if _utc(s["bar_time"]) > live_from]
    floor = [(t, r) for t, r in watchers[FLOOR].seen if _utc(r["timestamp"]) > live_from]
    return {
        "bar_to_signal_visible_s": percentiles([t - _utc(s["bar_time"]).timestamp() for t, s in live]),
        "bar_to_order_decided_s": percentiles([t - bt.timestamp() for t, bt in decided
                                               if bt > live_from]),
        "floor_bar_to_row_visible_s": percentiles([t - _utc(r["timestamp"]).timestamp()
                                                   for t, r in floor]),
    }


def _consume(shared: Settings, cs: ConsumerSettings, stop: threading.Event,
             decided: list[tuple[float, datetime]]) -> None:
    from consumer.service import build_consumer
    from tradeflow.observability import FeedWatch
    from tradeflow.contracts import TradingSignal, parse

    backend = open_backend(shared.backend, shared)
    consumer = build_consumer(shared, cs, backend)
    handle_raw = consumer.handle_raw

    def timed(raw: bytes, topic: str | None = None) -> str:
        outcome = handle_raw(raw, topic)
        decided.append((time.time(), parse(TradingSignal, raw).bar_time))
        return outcome

    consumer.handle_raw = timed  # type: ignore[method-assign]
    # Watching its feeds as `tradeflow consume` does (lag gauges and /healthz).
    feeds = {t: FeedWatch(t, shared.feed_stale_seconds) for t in (PRICES, SIGNALS)}
    try:
        consumer.run(stop=stop, poll_timeout=0.05, feeds=feeds)
    finally:
        consumer.close()
        backend.close()


def run(minutes: int = 4, symbols: int = 30, backends: str = "file,kafka") -> dict:
    result = {"minutes": minutes, "symbols": symbols}
    for name in backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"tradeflow-latency-{name}-") as work:
            result[name] = run_backend(name, minutes, symbols, Path(work))
        print(json.dumps({name: result[name]}, indent=2), flush=True)
    return report(result)


if __name__ == "__main__":
    cli(run, __doc__, "minutes", "symbols", "backends")
