"""Prometheus metrics of the dashboard (served at /metrics in the text exposition format).

Conventions: counters end in `_total`, times are in seconds, and nothing is pre-computed that
Prometheus derives itself (records per second is `rate(tradeflow_dashboard_records_total[1m])`).

`tradeflow_dashboard_feed_lag_seconds{topic}`: wall time at the scrape minus the newest event
time read on the topic: a bar's end (`stock-prices`), a story's `published_at` (`market-news`),
a signal's `bar_time` (`trading-signals`), an order's `updated_at` (`orders`). It grows while
nothing new arrives. It is the age of the data, not the dashboard's own delay: a replay of last
year's bars or the simulator's morning of 2024 lags by months, and it is negative while event
time runs ahead of the wall clock (a simulator started in the future).

Each server has its own registry, so several apps in one process (tests, the load benchmark)
never share or double-register series.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "DashboardMetrics", "RecordRate"]

RECORDS = "tradeflow_dashboard_records_total"


class DashboardMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Counter(RECORDS, "Valid records read, per topic", ["topic"], registry=r)
        self.invalid = Counter("tradeflow_dashboard_invalid_records_total",
                               "Records that broke their contract and were skipped, per topic",
                               ["topic"], registry=r)
        self.feed_lag = Gauge("tradeflow_dashboard_feed_lag_seconds",
                              "Wall time now minus the newest event time read on the topic "
                              "(bar end, published_at, bar_time, updated_at)", ["topic"],
                              registry=r)
        self.feed_up = Gauge("tradeflow_dashboard_subscription_up",
                             "1 while the topic's subscription polls without error", ["topic"],
                             registry=r)
        self.feed_queue = Gauge("tradeflow_dashboard_feed_queue_depth",
                                "Batches read from the topics and waiting for the event loop",
                                registry=r)
        self.clients = Gauge("tradeflow_dashboard_ws_clients", "Connected websocket clients",
                             registry=r)
        self.sent = Counter("tradeflow_dashboard_ws_messages_sent_total",
                            "Websocket messages sent to browsers (snapshots and deltas)",
                            registry=r)
        self.dropped = Counter("tradeflow_dashboard_ws_dropped_messages_total",
                               "Deltas skipped because a client's queue was full (the client gets "
                               "a fresh snapshot once it catches up)", registry=r)
        self.slow_disconnects = Counter("tradeflow_dashboard_ws_slow_disconnects_total",
                                        "Clients disconnected for staying behind", registry=r)
        self.queue_total = Gauge("tradeflow_dashboard_ws_queue_depth",
                                 "Messages waiting in all client queues", registry=r)
        self.queue_max = Gauge("tradeflow_dashboard_ws_queue_depth_max",
                               "Messages waiting in the fullest client queue", registry=r)
        self.state_records = Gauge("tradeflow_dashboard_state_records",
                                   "Records held in the bounded in-memory state", registry=r)
        self._newest: dict[str, float] = {}  # topic -> newest event time read (epoch seconds)
        self._topics: set[str] = set()

    def count(self, topic: str, n: int, newest_t: float | None = None) -> None:
        """`n` valid records read from `topic`, the newest of them at event time `newest_t`."""
        self._topics.add(topic)
        self.records.labels(topic).inc(n)
        if newest_t is not None and newest_t > self._newest.get(topic, float("-inf")):
            self._newest[topic] = newest_t

    def records_read(self) -> dict[str, float]:
        """Valid records read so far per topic, as the counter holds them."""
        return {t: self.registry.get_sample_value(RECORDS, {"topic": t}) or 0.0
                for t in self._topics}

    def render(self) -> bytes:
        now = time.time()  # the lag is measured at the scrape, so it grows while nothing arrives
        for topic, t in self._newest.items():
            self.feed_lag.labels(topic).set(round(now - t, 3))
        return generate_latest(self.registry)


class RecordRate:
    """Records per second per topic between two calls, from the records counter: for the page's
    feed pill only (Prometheus takes rate() of the counter itself)."""

    def __init__(self, metrics: DashboardMetrics,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics, self.clock = metrics, clock
        self._last: tuple[float, dict[str, float]] = (clock(), metrics.records_read())

    def sample(self) -> dict[str, float]:
        now, totals = self.clock(), self.metrics.records_read()
        then, before = self._last
        self._last = (now, totals)
        dt = now - then
        if dt <= 0:
            return {t: 0.0 for t in totals}
        return {t: round((n - before.get(t, 0.0)) / dt, 2) for t, n in totals.items()}
