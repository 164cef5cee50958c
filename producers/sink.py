"""Where producers send what they make: validated records to topics, rejects to dead-letter."""

from __future__ import annotations

from collections.abc import Sequence

from tradeflow.config import DEAD_LETTER
from tradeflow.contracts import Contract
from tradeflow.datasets import Rejected
from tradeflow.deadletter import DeadLetters
from tradeflow.topics import Backend, Record

from .progress import Progress


class Publisher:
    """Publishes contract records, counting them. A backend failure raises: never a silent drop."""

    def __init__(self, backend: Backend, component: str, progress: Progress | None = None) -> None:
        self.backend = backend
        self.dead = DeadLetters(backend, component)
        self.progress = progress or Progress(component, live=False)

    def publish(self, topic: str, items: Sequence[Contract]) -> None:
        if items:
            n = self.backend.publish(topic, [Record(i.key, i.to_json()) for i in items])  # type: ignore[attr-defined]
            self.progress.add(topic, n)

    def reject(self, item: Rejected) -> None:
        self.dead.send(item.raw, item.reason, item.topic)
        self.progress.add(DEAD_LETTER)

    def close(self) -> None:
        self.backend.flush()
        self.progress.close()
