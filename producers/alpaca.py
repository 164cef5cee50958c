"""Live Alpaca market data: poll 1-minute bars and news, publish them as PriceBar / NewsItem.

The data client and the conversion into contracts live in the shared package
(`tradeflow.alpaca_data`, also used by the AWS ingestion Lambdas); they are re-exported here so
existing imports keep working. This module adds the polling loop, de-duplication within a run
and publishing.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from tradeflow.alpaca_data import (  # noqa: F401 - re-exported for existing importers
    BAR,
    BARS_PAGE_LIMIT,
    MAX_PAGES,
    NEWS_PAGE_LIMIT,
    SOURCE,
    AlpacaAuthError,
    AlpacaDataClient,
    AlpacaError,
    AlpacaRequestError,
    AlpacaUnavailable,
    _compact,
    bar_from_alpaca,
    news_from_alpaca,
)
from tradeflow.config import NEWS, PRICES
from tradeflow.contracts import SYMBOL_RE, ContractError, NewsItem, PriceBar, to_wire_time
from tradeflow.datasets import Rejected

from .sink import Publisher

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """What one poll cycle did; `errors` lists the endpoints that could not be read this time."""

    bars: int = 0
    news: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def _remember(memory: OrderedDict[str, None], key: str, bound: int) -> None:
    memory[key] = None
    memory.move_to_end(key)
    while len(memory) > bound:
        memory.popitem(last=False)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AlpacaProducer:
    """Polls bars and news for `symbols` and publishes what is new since the previous poll.

    Bars: only completed ones (end <= now); per symbol, only those ending after the last one
    published. Each poll asks from `since` at first, then from `bar_grace` before the previous
    poll, so bars Alpaca publishes a little late are still picked up while the request window
    stays a few minutes wide (a symbol without trades does not pin it to `since`). A bar that
    shows up later than `bar_grace` is not fetched.
    News: asked from `since`, then from `news_grace` before the previous poll; ids already
    published are skipped (the remembered ids are bounded, far above what that window holds).
    """

    def __init__(self, client: AlpacaDataClient, symbols: Sequence[str], *,
                 feed: str = "iex", bars_since: datetime | None = None,
                 news_since: datetime | None = None, bar_grace: timedelta = timedelta(minutes=5),
                 news_grace: timedelta = timedelta(minutes=30), max_seen_news: int = 10_000,
                 now: Callable[[], datetime] = _utcnow) -> None:
        if not symbols:
            raise ValueError("no symbols to poll")
        bad = [s for s in symbols if not SYMBOL_RE.match(s)]
        if bad:
            raise ValueError(f"not a valid ticker: {', '.join(bad)}")
        self.client = client
        self.symbols = list(dict.fromkeys(symbols))
        self.feed = feed
        self._now = now
        start = now()
        self._bars_from = (bars_since or start - timedelta(minutes=15)).astimezone(timezone.utc)
        self._news_from = (news_since or start - timedelta(hours=24)).astimezone(timezone.utc)
        self._bar_grace, self._news_grace = bar_grace, news_grace
        # Bounded: one entry per configured symbol, and at most `max_seen_news` news ids.
        self.last_bar_end: dict[str, datetime] = {}
        self._seen_news: OrderedDict[str, None] = OrderedDict()
        self._max_seen_news = max_seen_news
        # A bad bar stays inside the request window for a few polls: dead-letter it once.
        self._rejected_bars: OrderedDict[str, None] = OrderedDict()

    def poll(self, pub: Publisher) -> PollResult:
        """One cycle: news then bars (as the simulator does: news inside a bar is known by its
        end). An endpoint that stays unavailable is reported in `errors` and retried next poll;
        auth and request errors raise."""
        result = PollResult()
        for name, step in (("news", self._poll_news), ("bars", self._poll_bars)):
            try:
                step(pub, result)
            except AlpacaUnavailable as err:
                log.warning("alpaca %s: %s; will try again next poll", name, err)
                result.errors.append(f"{name}: {err}")
        return result

    def _reject(self, pub: Publisher, result: PollResult, raw: str, reason: str, topic: str) -> None:
        pub.reject(Rejected(raw, f"alpaca: {reason}", topic))
        result.rejected += 1

    def _poll_bars(self, pub: Publisher, result: PollResult) -> None:
        now = self._now()
        params = {"symbols": ",".join(self.symbols), "timeframe": "1Min",
                  "start": to_wire_time(self._bars_from), "limit": BARS_PAGE_LIMIT,
                  "feed": self.feed}
        fresh: list[PriceBar] = []
        for page in self.client.pages("/v2/stocks/bars", params):
            groups = page.get("bars") or {}
            if not isinstance(groups, dict):
                self._reject(pub, result, _compact(page), "'bars' is not an object", PRICES)
                continue
            for symbol, items in groups.items():
                if not isinstance(items, list):
                    self._reject(pub, result, _compact({"symbol": symbol, "bars": items}),
                                 f"bars of {symbol!r} are not a list", PRICES)
                    continue
                for raw in items:
                    self._take_bar(pub, result, symbol, raw, now, fresh)
        fresh.sort(key=lambda b: (b.event_time, b.symbol))
        pub.publish(PRICES, fresh)
        result.bars += len(fresh)
        # Only after the poll went through: a failed poll is asked again from the same start.
        self._bars_from = max(self._bars_from, now - self._bar_grace)

    def _take_bar(self, pub: Publisher, result: PollResult, symbol: str, raw: Any,
                  now: datetime, fresh: list[PriceBar]) -> None:
        original = _compact({"symbol": symbol, "bar": raw})
        if symbol not in self.symbols:
            self._reject(pub, result, original, f"bar for a symbol not asked for: {symbol!r}", PRICES)
            return
        try:
            bar = bar_from_alpaca(symbol, raw)
        except ContractError as err:
            if original not in self._rejected_bars:
                self._reject(pub, result, original, f"{symbol}: {err}", PRICES)
                _remember(self._rejected_bars, original, self._max_seen_news)
            return
        if bar.event_time > now:
            return  # still forming: the next poll asks for it again
        last = self.last_bar_end.get(symbol)
        if last is not None and bar.event_time <= last:
            return  # published by an earlier poll (or earlier in this one)
        self.last_bar_end[symbol] = bar.event_time
        fresh.append(bar)

    def _poll_news(self, pub: Publisher, result: PollResult) -> None:
        now = self._now()
        params = {"symbols": ",".join(self.symbols), "start": to_wire_time(self._news_from),
                  "limit": NEWS_PAGE_LIMIT, "sort": "asc"}
        fresh: list[NewsItem] = []
        for page in self.client.pages("/v1beta1/news", params):
            items = page.get("news") or []
            if not isinstance(items, list):
                self._reject(pub, result, _compact(page), "'news' is not a list", NEWS)
                continue
            for raw in items:
                original = _compact(raw)
                news_id = raw.get("id") if isinstance(raw, dict) else None
                # Stories without a usable id are remembered by their text, so two of them
                # never collide and each is dead-lettered once.
                key = (f"alpaca-{news_id}" if isinstance(news_id, (int, str))
                       and not isinstance(news_id, bool) else original)
                if key in self._seen_news:
                    continue  # already published, or already dead-lettered
                try:
                    fresh.append(news_from_alpaca(raw))
                except ContractError as err:
                    self._reject(pub, result, original, f"news: {err}", NEWS)
                _remember(self._seen_news, key, self._max_seen_news)
        fresh.sort(key=lambda n: n.published_at)
        pub.publish(NEWS, fresh)
        result.news += len(fresh)
        self._news_from = max(self._news_from, now - self._news_grace)



def run(producer: AlpacaProducer, pub: Publisher, poll_seconds: float, once: bool = False,
        sleep: Callable[[float], None] = time.sleep, heartbeat_every: float = 1.0) -> PollResult:
    """Poll until interrupted (or once). Auth/request errors raise AlpacaError; an endpoint that
    stays unavailable is logged and tried again next poll, except with `once`, where it raises
    so that cron sees the failure.

    After a poll that went through, a clock at the newest bar published tells the job every bar
    up to it is out (a bar Alpaca delivers after a newer one of another symbol is then late, and
    goes to dead-letter); between polls the clock is repeated so the job's sources stay active."""
    while True:
        started = time.monotonic()
        result = producer.poll(pub)
        if not result.errors and producer.last_bar_end:
            pub.clock(max(producer.last_bar_end.values()))
        # Debug only: the Progress line already reports the counts.
        log.debug("alpaca poll: %d bars, %d news, %d dead-lettered", result.bars, result.news,
                 result.rejected)
        if once:
            if result.errors:
                raise AlpacaUnavailable("; ".join(result.errors))
            return result
        while (left := poll_seconds - (time.monotonic() - started)) > 0:
            sleep(min(left, heartbeat_every))
            pub.heartbeat()
