"""Replay price and news files into the topics in event-time order, at a chosen speed.

Files are streamed: each is read once to count its records and check its order, then merged
with the others as it is read again, so memory holds one batch, not the files. A file out of
time order is the exception: it is sorted in memory, and the log says so.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from tradeflow.config import NEWS, PRICES
from tradeflow.contracts import NewsItem, PriceBar
from tradeflow.datasets import Rejected, event_time, in_time_order, read

from .pacing import Pacer
from .sink import Publisher

log = logging.getLogger(__name__)

Item = PriceBar | NewsItem


def _records(path: Path, kind: str, reject: Callable[[Rejected], None]) -> Iterator[Item]:
    for rec in read(path, kind):
        if isinstance(rec, Rejected):
            reject(rec)
        else:
            yield rec


def sources(prices: list[Path], news: list[Path], reject: Callable[[Rejected], None]
            ) -> tuple[Iterator[Item], int]:
    """Every record of the files merged in event-time order, and how many there are. News at the
    same instant as a bar goes first (it was known when the bar closed); then file order."""
    streams: list[Iterator[Item]] = []
    total = 0
    for kind, paths in (("news", news), ("prices", prices)):
        for path in paths:
            log.info("reading %s (%.1f MB)", path, path.stat().st_size / 1e6)
            count, ordered = in_time_order(path, kind)
            total += count
            if ordered:
                streams.append(_records(path, kind, reject))
            else:
                log.warning("%s is not in time order: sorting its %d records in memory", path,
                            count)
                streams.append(iter(sorted(_records(path, kind, reject), key=event_time)))
    return heapq.merge(*streams, key=event_time), total


def replay(publisher: Publisher, prices: list[Path], news: list[Path], speed: float,
           batch: int = 500, heartbeat_every: float = 1.0) -> None:
    """Publish everything in time order; bars sharing an event time go out together."""
    items, publisher.progress.total = sources(prices, news, publisher.reject)
    pacer = Pacer(speed)
    pending: dict[str, list[Item]] = {PRICES: [], NEWS: []}
    current: datetime | None = None
    t: datetime | None = None

    def flush() -> None:
        for topic, batch_items in pending.items():
            publisher.publish(topic, batch_items)
            batch_items.clear()

    for item in items:
        t = event_time(item)
        if t != current and (speed > 0 or sum(map(len, pending.values())) >= batch):
            flush()
            if speed > 0 and current is not None:
                publisher.clock(current)  # paced: the job signals each bar as it is replayed
            pacer.wait(t, publisher.heartbeat, heartbeat_every)
            current = t
        pending[PRICES if isinstance(item, PriceBar) else NEWS].append(item)
    flush()
    if t is not None:
        publisher.clock(t)  # the end: the job releases the last bars too
