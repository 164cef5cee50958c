"""Where producers send what they make: validated records to topics, rejects to dead-letter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tradeflow.config import DEAD_LETTER, NEWS, PRICES
from tradeflow.contracts import Clock, Contract
from tradeflow.datasets import Rejected
from tradeflow.observability import RECORDS_PUBLISHED, FeedWatch
from tradeflow.deadletter import DeadLetters
from tradeflow.topics import Backend, Record

from .progress import Progress


class Publisher:
    """Publishes contract records, counting them. A backend failure raises: never a silent drop."""

    def __init__(self, backend: Backend, component: str, progress: Progress | None = None,
                 stale_after: float = 30.0) -> None:
        self.backend = backend
        self.dead = DeadLetters(backend, component)
        self.progress = progress or Progress(component, live=False)
        self.last_clock: datetime | None = None
        # Bars or clocks (heartbeats included) go out at least every clock_heartbeat_seconds
        # while the producer lives: a longer silence is a stuck producer (its /healthz).
        self.feed = FeedWatch(PRICES, stale_after)

    def publish(self, topic: str, items: Sequence[Contract]) -> None:
        if items:
            n = self.backend.publish(topic, [Record(i.key, i.to_json()) for i in items])  # type: ignore[attr-defined]
            self.progress.add(topic, n)
            RECORDS_PUBLISHED.labels(topic).inc(n)
            if topic == PRICES:
                self.feed.saw(n, max(i.event_time for i in items))  # type: ignore[attr-defined]

    def clock(self, t: datetime) -> None:
        """Promise that every bar and story up to `t` is published (tradeflow.contracts.Clock,
        on every partition of both topics) and make it all visible now: the job then signals
        the bars up to `t` without waiting for later ones."""
        value = Clock(clock=t, source=self.dead.component).to_json()
        for topic in (PRICES, NEWS):
            self.backend.broadcast(topic, value)
        self.backend.flush()
        self.last_clock = t
        self.feed.saw(1, t)

    def heartbeat(self) -> None:
        """Repeat the last clock: a topic that stays quiet for the job's idle timeout stops
        counting for the watermark, and a story it then brings could be passed by the bars."""
        if self.last_clock is not None:
            self.clock(self.last_clock)

    def reject(self, item: Rejected) -> None:
        self.dead.send(item.raw, item.reason, item.topic)
        self.progress.add(DEAD_LETTER)

    def close(self) -> None:
        self.backend.flush()
        self.progress.close()
