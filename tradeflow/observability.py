"""What every long-running service tells a scraper: `/metrics` (Prometheus) and `/healthz`.

A service builds a `Health` from its checks (each says what is wrong, or None), starts
`serve(port, health)` and reports its work through the metrics below. Metrics live in the
process's default registry, so a service's own ones (the trading engine's, in
tradeflow/trading/metrics.py) are served by the same endpoint.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tradeflow.trading.clock import wall_now

log = logging.getLogger(__name__)

RECORDS_PUBLISHED = Counter(
    "tradeflow_records_published", "Records written to a topic, per topic.", ["topic"])
DEAD_LETTERED = Counter(
    "tradeflow_records_dead_lettered",
    "Records refused and sent to dead-letter, per topic they came from ('' = none).", ["topic"])
FEED_LAG = Gauge(
    "tradeflow_feed_lag_seconds",
    "Wall-clock time minus the newest event time read from (consumer) or written to (producer) "
    "the topic: the age of the data. Negative while a simulation runs ahead of real time; a "
    "replay of old bars lags by months.", ["topic"])
FEED_IDLE = Gauge(
    "tradeflow_feed_idle_seconds",
    "Seconds since the topic last delivered (consumer) or received (producer) a record. "
    "Producers repeat their clock every TRADEFLOW_CLOCK_HEARTBEAT_SECONDS, so on stock-prices "
    "more than a few seconds means the feed stalled.", ["topic"])

class ServeError(RuntimeError):
    """The endpoint cannot listen (port in use, address not on this machine)."""


Check = Callable[[], "str | None"]


class Health:
    """Named checks; healthy when none reports a problem."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def report(self) -> tuple[bool, dict[str, str]]:
        """(healthy, {check: "ok" or what is wrong})."""
        out: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                problem = check()
            except Exception as err:  # noqa: BLE001 - a failing check is a finding, not a crash
                problem = f"check failed: {type(err).__name__}: {err}"
            out[name] = problem or "ok"
        return all(v == "ok" for v in out.values()), out


class FeedWatch:
    """What a topic last delivered: the feed's lag and idle gauges, and a health check that
    fails once the topic has been silent for `stale_after` seconds."""

    def __init__(self, topic: str, stale_after: float,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = wall_now) -> None:
        self.topic, self.stale_after, self.clock, self.wall = topic, stale_after, clock, wall
        self.last = clock()  # silence counts from the start: a feed that never comes is dead
        self.delivered = False
        self.newest: datetime | None = None
        FEED_IDLE.labels(topic).set_function(self.idle)
        FEED_LAG.labels(topic).set_function(self.lag)

    def saw(self, n: int, newest: datetime | None = None) -> None:
        """`n` records arrived, the latest event time among them `newest` (if known)."""
        if n:
            self.last, self.delivered = self.clock(), True
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest

    def idle(self) -> float:
        return max(0.0, self.clock() - self.last)

    def lag(self) -> float:
        """NaN until an event time was seen (Prometheus' "no value")."""
        return (self.wall() - self.newest).total_seconds() if self.newest else math.nan

    def problem(self) -> str | None:
        silent = self.idle()
        if silent <= self.stale_after:
            return None
        what = "since its last record" if self.delivered else "since the start, no record yet"
        return f"{self.topic}: silent for {silent:.0f} s ({what})"


class MetricsServer:
    """`/metrics` and `/healthz` over HTTP on a thread of their own. Port 0 picks a free one."""

    def __init__(self, port: int, health: Health, host: str = "127.0.0.1",
                 registry: CollectorRegistry = REGISTRY) -> None:
        handler = _handler(health, registry)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(port: int, health: Health, host: str = "127.0.0.1") -> MetricsServer | None:
    """Start the endpoint on `host:port` and log its address; None when `port` is 0 (off)."""
    if not port:
        return None
    try:
        server = MetricsServer(port, health, host)
    except OSError as err:
        raise ServeError(f"cannot serve metrics on {host}:{port}: {err.strerror or err}") from None
    log.info("metrics on http://%s:%d/metrics, health on /healthz", host, server.port)
    return server


def _handler(health: Health, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/healthz":
                ok, checks = health.report()
                body = json.dumps({"status": "ok" if ok else "unhealthy", "checks": checks})
                self._send(200 if ok else 503, "application/json", body.encode())
            else:
                self._send(404, "text/plain", b"not found: try /metrics or /healthz\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass  # a scrape every few seconds is not news

    return Handler
