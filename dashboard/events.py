"""Raw topic payloads -> validated Events (`records.py`), in the feed's reader threads.

Records are parsed once, here, with the shared contracts; the rest of the dashboard works on the
typed records, and browsers get their page form (`wire.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradeflow.contracts import ContractError, parse

from .records import BY_TOPIC, Event
from .wire import check_wire


class Decoder:
    """Turns raw topic payloads into Events. Bad records raise ContractError (the caller counts
    them; producers and the consumer already dead-letter them, so the dashboard does not), as do
    valid ones the dashboard cannot show (`check_wire`). Other exceptions are possible on
    pathological input (e.g. OverflowError); the feed counts those as invalid too."""

    def __init__(self, scorer: Callable[[str], Any] | None = None) -> None:
        self.scorer = scorer

    def decode(self, topic: str, raw: bytes) -> Event:
        kind = BY_TOPIC.get(topic)
        if kind is None:
            raise ContractError(f"the dashboard does not read topic {topic!r}")
        record = parse(kind.contract, raw)
        # Scored here, off the event loop: the scorer is the slowest step of a story.
        tone = None
        if self.scorer is not None and kind.scored is not None:
            s = self.scorer(kind.scored(record))
            tone = (round(s.score, 3), s.label)
        ev = Event(record, tone)
        check_wire(ev.wire)
        return ev


def default_scorer() -> Callable[[str], Any] | None:
    """The finance headline scorer from the shared package, or None if it cannot load."""
    try:
        from tradeflow.sentiment import get_scorer

        return get_scorer("finance")
    except Exception:  # noqa: BLE001 - headlines still show, just without a score
        return None
