"""Topic subscriptions -> batches of validated events for the event loop.

Backends' `poll` blocks, so each topic is read by its own thread; records are validated there
(off the event loop) and handed over in batches through a bounded asyncio queue. When the loop
falls behind, the threads wait on that queue: the dashboard then reads the topics more slowly,
which never slows the pipeline (topics are durable logs; producers do not wait for readers).

History: the dashboard reads as its own group (`dashboard-<host>-<pid>`) from `start` and never
commits, so every start replays the topics from there: by default (`tradeflow dashboard`) the
records appended in the last 24 hours (`TRADEFLOW_DASHBOARD_LOOKBACK`), so the page is not empty
after a restart, yet a start does not replay weeks of history; the bounded state keeps only the
recent part. A record that cannot be used, whatever the exception, is counted as invalid and
skipped. On a first replay, orders wait until the signals topic has caught up once, so fills
can be dated by their signal's bar time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from tradeflow import durations
from tradeflow.config import ORDERS, SIGNALS
from tradeflow.contracts import ContractError, is_clock, to_wire_time
from tradeflow.topics import Backend, StartAt, Subscription

from .events import Decoder
from .metrics import DashboardMetrics
from .records import TOPICS, Event

log = logging.getLogger("dashboard.feed")


def default_group() -> str:
    # Never committed, and unique per process: on Kafka two dashboards sharing a group would
    # split the partitions between them and each would show half the symbols.
    return f"dashboard-{socket.gethostname()}-{os.getpid()}"

STALE_SECONDS = 10.0  # a subscription that has not returned from poll for this long is not alive


def resolve_start(start: StartAt | str, now: datetime | None = None) -> tuple[StartAt, str]:
    """Where to subscribe for `start` ("earliest", "latest", a look-back such as "24h" counted
    back from `now`, or an instant) and what to say about it in the log.
    ValueError with a one-line message if `start` is none of these."""
    if isinstance(start, datetime):
        if start.utcoffset() is None:  # the backends refuse it too, but only once subscribing
            raise ValueError(f"start time {start.isoformat()} has no time zone")
        return start, f"records appended since {to_wire_time(start.replace(microsecond=0))}"
    text = start.strip()
    if text == "earliest":
        return "earliest", "everything the topics hold (earliest)"
    if text == "latest":
        return "latest", "only records appended from now on (latest)"
    if not durations.is_duration(text):
        raise ValueError(f"{start!r} is not earliest, latest or a look-back like 30m, 6h, 2d")
    since = durations.ago(text, now)  # ValueError if it reaches back before the year 1
    return since, f"records appended since {to_wire_time(since.replace(microsecond=0))} (look-back {text})"


@dataclass
class Batch:
    topic: str
    events: list[Event]
    invalid: int
    received: float  # wall time the batch left the topic (for delivery latency)


@dataclass
class TopicHealth:
    topic: str
    alive: bool = False
    last_poll: float = 0.0  # monotonic
    caught_up: bool = False
    records: int = 0
    invalid: int = 0
    error: str | None = None
    caught_up_event: threading.Event = field(default_factory=threading.Event)

    def to_dict(self, now: float) -> dict:
        age = now - self.last_poll if self.last_poll else None
        return {"alive": self.ok(now), "caught_up": self.caught_up, "records": self.records,
                "invalid": self.invalid, "error": self.error,
                "last_poll_age_s": None if age is None else round(age, 2)}

    def ok(self, now: float) -> bool:
        return self.alive and self.error is None and now - self.last_poll < STALE_SECONDS


class Feed:
    def __init__(self, backend: Backend, decoder: Decoder, metrics: DashboardMetrics,
                 topics: tuple[str, ...] = TOPICS, group: str | None = None,
                 start: StartAt = "earliest", poll_timeout: float = 0.5,
                 max_records: int = 1000, queue_size: int = 64) -> None:
        self.backend, self.decoder, self.metrics = backend, decoder, metrics
        self.topics, self.group, self.start = topics, group or default_group(), start
        self.poll_timeout, self.max_records = poll_timeout, max_records
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=queue_size)
        self.health = {t: TopicHealth(t) for t in topics}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._odd_logged: dict[str, float] = {}

    # --- lifecycle --------------------------------------------------------------------------
    def start_threads(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for topic in self.topics:
            th = threading.Thread(target=self._run, args=(topic,), name=f"feed-{topic}",
                                  daemon=True)
            self._threads.append(th)
            th.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(timeout)

    def healthy(self) -> bool:
        now = time.monotonic()
        return all(h.ok(now) for h in self.health.values())

    def status(self) -> dict[str, dict]:
        now = time.monotonic()
        return {t: h.to_dict(now) for t, h in self.health.items()}

    # --- the reader threads -----------------------------------------------------------------
    def _subscribe(self, topic: str) -> Subscription | None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                return self.backend.subscribe(topic, self.group, self.start)
            except Exception as err:  # noqa: BLE001 - reported in /healthz, retried
                self.health[topic].error = f"subscribe failed: {err}"
                log.warning("cannot subscribe to %s: %s (retrying)", topic, err)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        return None

    def _run(self, topic: str) -> None:
        h = self.health[topic]
        h.alive = True
        try:
            if topic == ORDERS and SIGNALS in self.health:
                # Wait (bounded) for the signals' history, so fills find their signal's bar time.
                sig = self.health[SIGNALS].caught_up_event
                deadline = time.monotonic() + 30
                while not sig.is_set() and not self._stop.is_set() and time.monotonic() < deadline:
                    h.last_poll = time.monotonic()
                    sig.wait(0.5)
            sub = self._subscribe(topic)
            if sub is None:
                return
            with sub:
                self._read(topic, sub, h)
        finally:
            h.alive = False

    def _read(self, topic: str, sub: Subscription, h: TopicHealth) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                msgs = sub.poll(self.max_records, self.poll_timeout)
            except Exception as err:  # noqa: BLE001 - a broker hiccup must not end the feed
                h.error = f"poll failed: {err}"
                log.warning("polling %s failed: %s (retrying)", topic, err)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff, h.error, h.last_poll = 0.5, None, time.monotonic()
            if not msgs:
                if not h.caught_up:
                    h.caught_up = True
                    h.caught_up_event.set()
                continue
            events, invalid = [], 0
            for m in msgs:
                try:
                    if is_clock(m.value):  # a producer's clock for the job: no event to show
                        continue
                    events.append(self.decoder.decode(topic, m.value))
                except ContractError:
                    invalid += 1
                except Exception as err:  # noqa: BLE001 - one bad record must not end the feed
                    # (e.g. OverflowError from a date at the edge of the calendar): since every
                    # start replays the topic, letting it through would kill every start.
                    invalid += 1
                    self._log_odd(topic, err)
            h.records += len(events)
            h.invalid += invalid
            if not self._hand_over(Batch(topic, events, invalid, time.time())):
                return

    def _log_odd(self, topic: str, err: Exception) -> None:
        """One line (no traceback) per topic and minute for records failing in unexpected ways."""
        now = time.monotonic()
        if now - self._odd_logged.get(topic, -60.0) >= 60.0:
            self._odd_logged[topic] = now
            log.warning("skipped an unusable record on %s: %s: %s", topic,
                        type(err).__name__, str(err)[:200])

    def _hand_over(self, batch: Batch) -> bool:
        """Put the batch on the loop's queue, waiting while it is full; False when stopping."""
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(self.queue.put(batch), self._loop)
        while True:
            try:
                fut.result(timeout=0.5)
                return True
            except concurrent.futures.TimeoutError:
                self.health[batch.topic].last_poll = time.monotonic()  # waiting is not dead
                if self._stop.is_set() or self._loop.is_closed():
                    fut.cancel()
                    return False
            except (concurrent.futures.CancelledError, RuntimeError):
                return False


