"""Replay price and news files into the topics in event-time order, at a chosen speed."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from tradeflow.config import NEWS, PRICES
from tradeflow.contracts import NewsItem, PriceBar
from tradeflow.datasets import event_time, load

from .pacing import Pacer
from .sink import Publisher

Item = PriceBar | NewsItem


def merged(prices: list[Item], news: list[Item]) -> Iterator[Item]:
    # News at the same instant as a bar goes first: it was known when the bar closed.
    return heapq.merge(news, prices, key=event_time)


def replay(publisher: Publisher, prices: list[Path], news: list[Path], speed: float,
           batch: int = 500, heartbeat_every: float = 1.0) -> None:
    """Publish everything in time order; bars sharing an event time go out together."""
    price_items, bad_prices = load(prices, "prices")
    news_items, bad_news = load(news, "news")
    for rej in bad_prices + bad_news:
        publisher.reject(rej)
    pacer = Pacer(speed)
    pending: dict[str, list[Item]] = {PRICES: [], NEWS: []}
    current: datetime | None = None
    t: datetime | None = None

    def flush() -> None:
        for topic, items in pending.items():
            publisher.publish(topic, items)
            items.clear()

    for item in merged(price_items, news_items):
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
