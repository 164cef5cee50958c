"""Send what a component cannot accept to the `dead-letter` topic, with a reason."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from tradeflow.config import DEAD_LETTER
from tradeflow.contracts import C, ContractError, DeadLetter, parse
from tradeflow.logs import mask
from tradeflow.observability import DEAD_LETTERED, RECORDS_PUBLISHED
from tradeflow.topics import Backend, Record

log = logging.getLogger(__name__)

MAX_ORIGINAL = 4096  # characters of a refused record kept in its dead letter


def truncated(raw: str, limit: int = MAX_ORIGINAL) -> str:
    """`raw` up to `limit` characters, saying how long it was: a monstrous record would not fit
    a Kafka or Kinesis record, and its start is what a person needs to find it."""
    if len(raw) <= limit:
        return raw
    return f"{raw[:limit]}... (truncated: {len(raw)} characters in all)"


class DeadLetters:
    """Dead-letter publisher for one component. Counts what it sent, per reason."""

    def __init__(self, backend: Backend, component: str) -> None:
        self.backend = backend
        self.component = component
        self.count = 0

    def send(self, original: bytes | str, reason: str, source_topic: str | None = None) -> None:
        """Both the record and the reason are masked (`tradeflow.logs.mask`): an exception's
        text may quote a secret."""
        if isinstance(original, bytes):
            original = original.decode("utf-8", errors="backslashreplace")
        env = DeadLetter(original=mask(truncated(original)), reason=mask(" ".join(reason.splitlines()))[:500],
                         component=self.component, source_topic=source_topic,
                         time=datetime.now(timezone.utc))
        self.backend.publish(DEAD_LETTER, [Record(env.key, env.to_json())])
        self.count += 1
        RECORDS_PUBLISHED.labels(DEAD_LETTER).inc()
        DEAD_LETTERED.labels(source_topic or "").inc()
        log.warning("dead-letter (%s): %s", source_topic or self.component, env.reason)

    def parse(self, model: type[C], raw: bytes | str, source_topic: str | None = None) -> C | None:
        """Parse `raw` as `model`; on failure dead-letter it and return None."""
        try:
            return parse(model, raw)
        except ContractError as err:
            self.send(raw, str(err), source_topic)
            return None
