"""Prometheus metrics of the dashboard (served at /metrics in the text exposition format).

Each server has its own registry, so several apps in one process (tests, the load benchmark)
never share or double-register series.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "DashboardMetrics"]


class _Rate:
    """Records per second over a short exponentially weighted window (10 s time constant), so
    the gauge answers 'how busy is this topic now' without a Prometheus rate() query."""

    def __init__(self, tau: float = 10.0) -> None:
        self.tau, self.value, self._pending, self._last = tau, 0.0, 0, time.monotonic()

    def add(self, n: int) -> None:
        self._pending += n

    def update(self) -> float:
        now = time.monotonic()
        dt = now - self._last
        if dt > 0:
            alpha = min(1.0, dt / self.tau)
            self.value += alpha * (self._pending / dt - self.value)
            self._pending, self._last = 0, now
        return self.value


class DashboardMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Counter("tradeflow_dashboard_records", "Valid records read, per topic",
                               ["topic"], registry=r)
        self.invalid = Counter("tradeflow_dashboard_invalid_records",
                               "Records that broke their contract and were skipped, per topic",
                               ["topic"], registry=r)
        self.rate = Gauge("tradeflow_dashboard_topic_rate",
                          "Records per second read from each topic (10 s moving average)",
                          ["topic"], registry=r)
        self.feed_up = Gauge("tradeflow_dashboard_subscription_up",
                             "1 while the topic's subscription polls without error", ["topic"],
                             registry=r)
        self.feed_queue = Gauge("tradeflow_dashboard_feed_queue_depth",
                                "Batches read from the topics and waiting for the event loop",
                                registry=r)
        self.clients = Gauge("tradeflow_dashboard_ws_clients", "Connected websocket clients",
                             registry=r)
        self.sent = Counter("tradeflow_dashboard_ws_messages_sent",
                            "Websocket messages sent to browsers (snapshots and deltas)",
                            registry=r)
        self.dropped = Counter("tradeflow_dashboard_ws_dropped_messages",
                               "Deltas skipped because a client's queue was full (the client gets "
                               "a fresh snapshot once it catches up)", registry=r)
        self.slow_disconnects = Counter("tradeflow_dashboard_ws_slow_disconnects",
                                        "Clients disconnected for staying behind", registry=r)
        self.queue_total = Gauge("tradeflow_dashboard_ws_queue_depth",
                                 "Messages waiting in all client queues", registry=r)
        self.queue_max = Gauge("tradeflow_dashboard_ws_queue_depth_max",
                               "Messages waiting in the fullest client queue", registry=r)
        self.state_records = Gauge("tradeflow_dashboard_state_records",
                                   "Records held in the bounded in-memory state", registry=r)
        self._rates: dict[str, _Rate] = {}

    def count(self, topic: str, n: int) -> None:
        self.records.labels(topic).inc(n)
        self._rates.setdefault(topic, _Rate()).add(n)

    def tick(self) -> None:
        for topic, rate in self._rates.items():
            self.rate.labels(topic).set(round(rate.update(), 3))

    def rates(self) -> dict[str, float]:
        return {t: round(r.value, 2) for t, r in self._rates.items()}

    def render(self) -> bytes:
        return generate_latest(self.registry)
