"""Replay price and news files into the topics in event-time order, at a chosen speed."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from tradeflow.config import NEWS, PRICES
from tradeflow.contracts import NewsItem, PriceBar

from . import importers
from .pacing import Pacer
from .sink import Publisher, Rejected

Item = PriceBar | NewsItem


def _time(item: Item) -> datetime:
    return item.event_time if isinstance(item, PriceBar) else item.published_at


def load(paths: Iterable[Path], kind: str | None = None) -> tuple[list[Item], list[Rejected]]:
    """Every record of the files, sorted by event time (stable: file order breaks ties)."""
    items: list[Item] = []
    rejected: list[Rejected] = []
    for path in paths:
        for rec in importers.read(path, kind):
            (rejected if isinstance(rec, Rejected) else items).append(rec)
    items.sort(key=_time)
    return items, rejected


def merged(prices: list[Item], news: list[Item]) -> Iterator[Item]:
    # News at the same instant as a bar goes first: it was known when the bar closed.
    return heapq.merge(news, prices, key=_time)


def replay(publisher: Publisher, prices: list[Path], news: list[Path], speed: float,
           batch: int = 500) -> None:
    """Publish everything in time order; bars sharing an event time go out together."""
    price_items, bad_prices = load(prices, "prices")
    news_items, bad_news = load(news, "news")
    for rej in bad_prices + bad_news:
        publisher.reject(rej)
    pacer = Pacer(speed)
    pending: dict[str, list[Item]] = {PRICES: [], NEWS: []}
    current: datetime | None = None

    def flush() -> None:
        for topic, items in pending.items():
            publisher.publish(topic, items)
            items.clear()

    for item in merged(price_items, news_items):
        t = _time(item)
        if t != current and (speed > 0 or sum(map(len, pending.values())) >= batch):
            flush()
            pacer.wait(t)
            current = t
        pending[PRICES if isinstance(item, PriceBar) else NEWS].append(item)
    flush()
