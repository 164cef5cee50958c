"""Scheduled ingestion for Lambda: Alpaca bars and news into the Kinesis streams, once each.

A Lambda keeps nothing between invocations, so what the long-running producer remembers in memory
lives in a DynamoDB table (hash key `pk`):

  bars#<SYMBOL>    last_end: epoch seconds of the newest bar end handled (published or
                   dead-lettered). Only bars ending after it, and already complete, go out.
  news#<key>       a story already published (or dead-lettered), expiring by TTL after
                   TRADEFLOW_INGEST_NEWS_SEEN_TTL_DAYS; key = `alpaca-<id>`, or a hash of the
                   raw story when it has no usable id.

Records are published first and remembered after (at-least-once): an invocation that dies in
between publishes its records again next time, which the pipeline absorbs (the Flink job keeps
the first of duplicate bars; news ids are unique). Cursors only move forward (conditional
update), so an overlapping run cannot move one back. Publishing is the Kinesis backend's
PutRecords with partition key = symbol and its retries of partially failed batches.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from tradeflow.alpaca_data import (BAR, BARS_PAGE_LIMIT, NEWS_PAGE_LIMIT, AlpacaDataClient,
                                   _compact, _time, bar_from_alpaca, news_from_alpaca)
from tradeflow.config import NEWS, PRICES
from tradeflow.contracts import Clock, ContractError, NewsItem, PriceBar, to_wire_time
from tradeflow.deadletter import DeadLetters
from tradeflow.observability import RECORDS_PUBLISHED
from tradeflow.topics import Backend, Record
from tradeflow.trading.clock import wall_now

log = logging.getLogger(__name__)
BATCH_GET_LIMIT = 100  # keys per BatchGetItem
BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem


@dataclass
class IngestResult:
    published: int = 0
    dead_lettered: int = 0
    skipped: int = 0  # already published, or (bars) still forming
    window_start: str = ""
    details: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"published": self.published, "dead_lettered": self.dead_lettered,
                "skipped": self.skipped, "window_start": self.window_start}


class IngestState:
    """Cursors and seen ids in the ingest table (see the module docstring)."""

    def __init__(self, client: Any, table: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.table = table
        self.sleep = sleep

    def _batch_get(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), BATCH_GET_LIMIT):
            pending: dict[str, Any] = {self.table: {
                "Keys": [{"pk": {"S": k}} for k in keys[i:i + BATCH_GET_LIMIT]],
                "ConsistentRead": True}}
            for attempt in range(8):
                resp = self.client.batch_get_item(RequestItems=pending)
                for item in resp.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"]] = item
                pending = resp.get("UnprocessedKeys") or {}
                if not pending:
                    break
                self.sleep(min(2.0, 0.05 * 2 ** attempt))  # throttled: back off, ask the rest
            if pending:
                raise RuntimeError(f"dynamodb BatchGetItem on {self.table}: keys left unread")
        return found

    def bar_cursors(self, symbols: Iterable[str]) -> dict[str, datetime]:
        items = self._batch_get([f"bars#{s}" for s in symbols])
        return {pk.split("#", 1)[1]: datetime.fromtimestamp(float(i["last_end"]["N"]), timezone.utc)
                for pk, i in items.items() if "last_end" in i}

    def advance_bar(self, symbol: str, end: datetime) -> None:
        try:
            self.client.update_item(
                TableName=self.table, Key={"pk": {"S": f"bars#{symbol}"}},
                UpdateExpression="SET last_end = :e",
                ConditionExpression="attribute_not_exists(last_end) OR last_end < :e",
                ExpressionAttributeValues={":e": {"N": str(int(end.timestamp()))}})
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # Another run already got further: the cursor stays where it is.

    def seen_news(self, keys: list[str]) -> set[str]:
        now = time.time()
        items = self._batch_get([f"news#{k}" for k in dict.fromkeys(keys)])
        # TTL deletion lags by up to days: an expired item counts as forgotten.
        return {pk.split("#", 1)[1] for pk, i in items.items()
                if float(i.get("expires_at", {}).get("N", "inf")) > now}

    def remember_news(self, keys: list[str], ttl_seconds: float) -> None:
        expires = str(int(time.time() + ttl_seconds))
        requests = [{"PutRequest": {"Item": {"pk": {"S": f"news#{k}"},
                                             "expires_at": {"N": expires}}}}
                    for k in dict.fromkeys(keys)]
        for i in range(0, len(requests), BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {self.table: requests[i:i + BATCH_WRITE_LIMIT]}
            for attempt in range(8):
                resp = self.client.batch_write_item(RequestItems=pending)
                pending = resp.get("UnprocessedItems") or {}
                if not pending:
                    break
                self.sleep(min(2.0, 0.05 * 2 ** attempt))
            if pending:
                # Not fatal: those stories are published and would only be published again.
                log.warning("ingest: %d news ids not remembered (throttled)",
                            len(pending.get(self.table, [])))


def _records(items: list[PriceBar] | list[NewsItem]) -> list[Record]:
    return [Record(i.key, i.to_json()) for i in items]


def ingest_bars(client: AlpacaDataClient, backend: Backend, state: IngestState,
                dead: DeadLetters, symbols: list[str], *, feed: str = "iex",
                now: datetime | None = None, lookback: timedelta = timedelta(minutes=15),
                max_catchup: timedelta = timedelta(hours=1)) -> IngestResult:
    """Publish the complete 1-minute bars of `symbols` that end after each symbol's cursor."""
    now = now or wall_now()
    cursors = state.bar_cursors(symbols)
    # Alpaca's `start` filters on the bar START; a bar ending after the cursor starts at or after
    # (cursor - 1 min), so asking from the oldest cursor minus one bar misses nothing.
    oldest = min((cursors.get(s, now - lookback) for s in symbols), default=now - lookback)
    start = max(oldest - BAR, now - max_catchup)
    result = IngestResult(window_start=to_wire_time(start))
    params = {"symbols": ",".join(symbols), "timeframe": "1Min", "start": to_wire_time(start),
              "limit": BARS_PAGE_LIMIT, "feed": feed}
    fresh: list[PriceBar] = []
    handled: dict[str, datetime] = {}
    for page in client.pages("/v2/stocks/bars", params):
        groups = page.get("bars") or {}
        if not isinstance(groups, dict):
            dead.send(_compact(page), "alpaca: 'bars' is not an object", PRICES)
            result.dead_lettered += 1
            continue
        for symbol, items in groups.items():
            for raw in items if isinstance(items, list) else [items]:
                original = _compact({"symbol": symbol, "bar": raw})
                if symbol not in symbols or not isinstance(items, list):
                    dead.send(original, f"alpaca: unexpected bars for {symbol!r}", PRICES)
                    result.dead_lettered += 1
                    continue
                cursor = cursors.get(symbol)
                try:
                    bar = bar_from_alpaca(symbol, raw)
                except ContractError as err:
                    end = _end_of(raw)
                    if end is not None and cursor is not None and end <= cursor:
                        result.skipped += 1  # dead-lettered by an earlier run
                        continue
                    dead.send(original, f"alpaca: {symbol}: {err}", PRICES)
                    result.dead_lettered += 1
                    if end is not None and end <= now:
                        handled[symbol] = max(handled.get(symbol, end), end)
                    continue
                if bar.event_time > now or (cursor is not None and bar.event_time <= cursor):
                    result.skipped += 1  # still forming, or published before
                    continue
                if any(b.symbol == symbol and b.event_time == bar.event_time for b in fresh):
                    result.skipped += 1  # a page boundary served it twice
                    continue
                fresh.append(bar)
                handled[symbol] = max(handled.get(symbol, bar.event_time), bar.event_time)
    fresh.sort(key=lambda b: (b.event_time, b.symbol))
    if fresh:
        result.published = backend.publish(PRICES, _records(fresh))
        RECORDS_PUBLISHED.labels(PRICES).inc(result.published)
        # Every bar up to the newest is out: the job need not wait for the next run's bars
        # (tradeflow.contracts.Clock, on every shard).
        newest = max(b.event_time for b in fresh)
        backend.broadcast(PRICES, Clock(clock=newest, source="lambda-ingest").to_json())
    for symbol, end in handled.items():  # only after the records are stored
        state.advance_bar(symbol, end)
    return result


def _end_of(raw: Any) -> datetime | None:
    try:
        return _time(raw.get("t"), "t") + BAR if isinstance(raw, dict) else None
    except ContractError:
        return None


def _news_key(raw: Any) -> str:
    news_id = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(news_id, (int, str)) and not isinstance(news_id, bool) and news_id != "":
        return f"alpaca-{news_id}"
    # No usable id: remembered by its content, hashed to stay within DynamoDB's key size.
    return "raw-" + hashlib.sha256(_compact(raw).encode()).hexdigest()[:40]


def ingest_news(client: AlpacaDataClient, backend: Backend, state: IngestState,
                dead: DeadLetters, symbols: list[str], *, now: datetime | None = None,
                lookback: timedelta = timedelta(minutes=30),
                seen_ttl: timedelta = timedelta(days=2)) -> IngestResult:
    """Publish the news of `symbols` from the last `lookback` that no earlier run published."""
    now = now or wall_now()
    start = now - lookback
    result = IngestResult(window_start=to_wire_time(start))
    params = {"symbols": ",".join(symbols), "start": to_wire_time(start),
              "limit": NEWS_PAGE_LIMIT, "sort": "asc"}
    raws: list[tuple[str, Any]] = []
    for page in client.pages("/v1beta1/news", params):
        items = page.get("news") or []
        if not isinstance(items, list):
            dead.send(_compact(page), "alpaca: 'news' is not a list", NEWS)
            result.dead_lettered += 1
            continue
        raws += [(_news_key(raw), raw) for raw in items]
    seen = state.seen_news([k for k, _ in raws]) if raws else set()
    fresh: list[NewsItem] = []
    handled: list[str] = []
    for key, raw in raws:
        if key in seen or key in handled:
            result.skipped += 1
            continue
        handled.append(key)
        try:
            fresh.append(news_from_alpaca(raw))
        except ContractError as err:
            dead.send(_compact(raw), f"alpaca: news: {err}", NEWS)
            result.dead_lettered += 1
    fresh.sort(key=lambda n: n.published_at)
    if fresh:
        result.published = backend.publish(NEWS, _records(fresh))
        RECORDS_PUBLISHED.labels(NEWS).inc(result.published)
    if handled:
        state.remember_news(handled, seen_ttl.total_seconds())
    return result
