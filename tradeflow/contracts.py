"""Event contracts: what travels on each topic, as JSON, version 1.

Every record carries `v` (the schema version). Parsing is strict: wrong types, unknown fields,
missing fields, naive timestamps, non-finite or non-positive prices, high < low, negative volume,
malformed symbols, records over MAX_RECORD_BYTES and text over its field's limit are rejected
with a one-line reason (`ContractError`), which the caller sends to `dead-letter` (see
`tradeflow.deadletter`). Timestamps are UTC inside and on the wire,
written as ISO-8601 with a `Z` suffix, the form Flink's JSON format reads as TIMESTAMP_LTZ.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from tradeflow.config import DEAD_LETTER, NEWS, ORDERS, PRICES, SIGNALS

SCHEMA_VERSION = 1
# Kafka's default largest message and a Kinesis record are both about 1 MB: a record that could
# not travel on them is refused everywhere, before anyone parses, stores or acts on it.
MAX_RECORD_BYTES = 1_048_576

# US equity tickers: 1-5 letters, optionally a share-class suffix (BRK.B).
SYMBOL_RE = re.compile(r"^[A-Z]{1,5}(\.[A-Z]{1,2})?$")


class ContractError(ValueError):
    """A record that does not satisfy its contract. `str(err)` is a one-line reason."""


@functools.lru_cache(maxsize=4096)  # the same bar times are written again and again
def to_wire_time(t: datetime) -> str:
    """UTC ISO-8601 with `Z`; fractions only when present, so the wire loses nothing."""
    t = t.astimezone(timezone.utc)
    base = f"{t.year:04d}" + t.strftime("-%m-%dT%H:%M:%S")  # glibc's %Y writes year 1 as "1"
    if not t.microsecond:
        return base + "Z"
    if t.microsecond % 1000 == 0:
        return f"{base}.{t.microsecond // 1000:03d}Z"
    return f"{base}.{t.microsecond:06d}Z"


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("timestamp has no time zone")
    try:
        return t.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError(f"timestamp out of range in UTC: {t.isoformat()}") from None


def _symbol(s: str) -> str:
    if not SYMBOL_RE.match(s):
        raise ValueError(f"unknown symbol format {s!r}")
    return s


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("not a finite number")
    return x


def _positive(x: float) -> float:
    if not x > 0:
        raise ValueError("must be positive")
    return x


UtcTime = Annotated[datetime, AfterValidator(_utc), PlainSerializer(to_wire_time, return_type=str)]
Symbol = Annotated[str, AfterValidator(_symbol)]
Price = Annotated[float, AfterValidator(_finite), AfterValidator(_positive)]
Finite = Annotated[float, AfterValidator(_finite)]


class Contract(BaseModel):
    """Base of all wire records: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    v: Literal[1] = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class PriceBar(Contract):
    """One OHLCV bar on `stock-prices`. `event_time` is the bar END: the moment the close is known."""

    symbol: Symbol
    event_time: UtcTime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[Finite, Field(ge=0)]
    source: Annotated[str, Field(min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _range(self) -> "PriceBar":
        if self.high < self.low:
            raise ValueError(f"high {self.high} < low {self.low}")
        return self

    @property
    def key(self) -> str:
        return self.symbol


class NewsItem(Contract):
    """One news story on `market-news`, tagged with the symbols it is about."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    symbols: Annotated[list[Symbol], Field(min_length=1)]
    headline: Annotated[str, Field(min_length=1, max_length=2000)]
    summary: Annotated[str, Field(max_length=20000)] = ""
    source: Annotated[str, Field(min_length=1, max_length=128)]
    published_at: UtcTime
    url: Annotated[str, Field(max_length=2048)] | None = None

    @property
    def key(self) -> str:
        return self.symbols[0]


class Clock(Contract):
    """A producer's clock on `stock-prices` and `market-news`: it has published every record of
    the topic with an event time at or before `clock` (on every partition or shard it is on).

    The job's watermark then stands at `clock` at once, so a bar is signalled as soon as it ends
    instead of when the next bar arrives, and a replay that ends releases its last bars. Readers
    other than the job skip clocks (`is_clock`).
    """

    clock: UtcTime
    source: Annotated[str, Field(min_length=1, max_length=64)]


def is_clock(raw: bytes | str) -> bool:
    """Whether a record read from `stock-prices` or `market-news` is a valid Clock."""
    if ('"clock"' if isinstance(raw, str) else b'"clock"') not in raw:
        return False  # the common case, without a parse
    try:
        parse(Clock, raw)
    except ContractError:
        return False
    return True


class Action(str, Enum):
    BUY = "BUY"
    SELL = "SELL"


class Strength(str, Enum):
    STRONG = "STRONG"
    NORMAL = "NORMAL"


class TradingSignal(Contract):
    """A trading signal on `trading-signals`, written by the Flink job (issue 3 fixes its rules)."""

    signal_id: Annotated[str, Field(min_length=1, max_length=128)]
    symbol: Symbol
    action: Action
    strength: Strength
    confidence: Annotated[Finite, Field(ge=0, le=1)]
    price: Price
    bar_time: UtcTime
    emitted_at: UtcTime
    indicators: Annotated[dict[str, Finite | None], Field(max_length=64)]
    sentiment: Finite | None = None
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    strategy_version: Annotated[str, Field(min_length=1, max_length=64)]
    stop_loss: Price | None = None
    take_profit: Price | None = None
    horizon_bars: Annotated[int, Field(gt=0)] | None = None

    @property
    def key(self) -> str:
        return self.symbol


class OrderSide(str, Enum):
    buy = "buy"
    sell = "sell"


class OrderStatus(str, Enum):
    new = "new"
    accepted = "accepted"
    partially_filled = "partially_filled"
    filled = "filled"
    canceled = "canceled"
    expired = "expired"
    rejected = "rejected"
    failed = "failed"  # never reached the broker, or the broker kept failing

    @property
    def final(self) -> bool:
        return self not in (OrderStatus.new, OrderStatus.accepted, OrderStatus.partially_filled)


class Order(Contract):
    """An order's state on `orders`: one record each time its status changes.

    An opening order carries its signal's exit plan (`stop_loss`, `take_profit`, `horizon_bars`;
    `order_type` "bracket" when the broker works the stop and the target). A closing order says
    why in `exit_reason`; a bracket leg that filled is published as its own order ("stop" or
    "limit", client_order_id of the entry plus the reason). `bar_time`: the end of the bar the
    order was decided on; `filled_at` and `fill_bar_time`: when it filled, and the end of the bar
    it filled in, when the broker says.
    """

    client_order_id: Annotated[str, Field(min_length=1, max_length=128)]
    signal_id: Annotated[str, Field(min_length=1, max_length=128)]
    symbol: Symbol
    side: OrderSide
    qty: Annotated[Finite, Field(gt=0)]
    order_type: Literal["market", "limit", "stop", "bracket"] = "market"
    status: OrderStatus
    broker: Annotated[str, Field(min_length=1, max_length=64)]
    broker_order_id: Annotated[str, Field(max_length=128)] | None = None
    filled_qty: Annotated[Finite, Field(ge=0)] = 0.0
    filled_avg_price: Price | None = None
    stop_loss: Price | None = None
    take_profit: Price | None = None
    horizon_bars: Annotated[int, Field(gt=0)] | None = None
    exit_reason: Literal["stop_loss", "take_profit", "horizon", "signal"] | None = None
    bar_time: UtcTime | None = None
    filled_at: UtcTime | None = None
    fill_bar_time: UtcTime | None = None
    submitted_at: UtcTime
    updated_at: UtcTime
    detail: Annotated[str, Field(max_length=2000)] = ""

    @property
    def key(self) -> str:
        return self.symbol


class DeadLetter(Contract):
    """Envelope for anything a component could not accept. The original payload is kept verbatim."""

    original: str
    reason: Annotated[str, Field(min_length=1)]
    component: Annotated[str, Field(min_length=1)]
    source_topic: str | None = None
    time: UtcTime

    @property
    def key(self) -> str:
        return self.component


TOPIC_CONTRACTS: dict[str, type[Contract]] = {
    PRICES: PriceBar,
    NEWS: NewsItem,
    SIGNALS: TradingSignal,
    ORDERS: Order,
    DEAD_LETTER: DeadLetter,
}

C = TypeVar("C", bound=Contract)


def reason_of(err: ValidationError) -> str:
    """One line naming the first problem: `field: message` (plus a count of the others)."""
    errors = err.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    kind, msg = first["type"], first["msg"]
    if kind == "missing":
        text = f"missing field '{where}'"
    elif kind == "extra_forbidden":
        text = f"unexpected field '{where}'"
    elif kind == "json_invalid":
        text = f"bad JSON: {first.get('ctx', {}).get('error', msg)}"
    else:
        msg = msg.removeprefix("Value error, ")
        text = f"{where}: {msg}"
    if len(errors) > 1:
        text += f" (+{len(errors) - 1} more)"
    return " ".join(text.splitlines())  # \r, \u2028 and the like break a line too


def parse(model: type[C], raw: bytes | str) -> C:
    """Parse one JSON record into `model`, or raise ContractError with a one-line reason."""
    if len(raw) > MAX_RECORD_BYTES:  # str: characters, at most 4 bytes each; close enough
        raise ContractError(f"record of {len(raw):,} bytes is over the {MAX_RECORD_BYTES:,}-byte limit")
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        raise ContractError(reason_of(err)) from None


def build(model: type[C], **fields: Any) -> C:
    """Build a record from Python values (lax about int/float/str-enum), or raise ContractError."""
    try:
        return model.model_validate(fields, strict=False)
    except ValidationError as err:
        raise ContractError(reason_of(err)) from None
