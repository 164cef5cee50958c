"""The one place the dashboard tells its records apart.

`KINDS` says, for each topic the dashboard reads, which contract its records satisfy, the name
of its collection on the page, how a record is identified (delivery is at-least-once), its time
on the page's clock, how it is written for the page and which of its text is scored. Everything
that treats kinds of records differently (the state, the aggregator, the server's pending delta)
is a `Folder` and receives records through `fold`, so a new kind is added here and in the
folders that care about it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Generic, TypeVar

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS
from tradeflow.contracts import Contract, NewsItem, Order, PriceBar, TradingSignal

from .wire import Tone, Wire, bar_wire, news_wire, order_wire, signal_wire

Record = PriceBar | NewsItem | TradingSignal | Order


@dataclass(frozen=True, slots=True)
class Event:
    """One validated record, with what the dashboard learnt about it, and its page form.

    `tone`: a story's headline tone (news). `signal_t`: an order's signal's bar time, which
    dates an order whose record carries no `bar_time`. `wire` is written from these once, by
    the kind's encoder; it is sent to browsers and never read back."""

    record: Record
    tone: Tone | None = None
    signal_t: float | None = None
    wire: Wire = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wire", self.kind.encode(self))

    @property
    def kind(self) -> Kind:
        return _BY_CONTRACT[type(self.record)]

    @property
    def topic(self) -> str:
        return self.kind.topic

    @property
    def key(self) -> Hashable:
        return self.kind.key(self.record)

    @property
    def t(self) -> float:
        """Epoch seconds on the page's clock (the wire's `t`)."""
        return self.kind.time(self.record).timestamp()

    def dated(self, signal_t: float | None) -> Event:
        return Event(self.record, self.tone, signal_t)


@dataclass(frozen=True)
class Kind:
    topic: str
    contract: type[Contract]
    name: str  # its collection in snapshots and deltas
    handler: str  # the Folder method that takes it
    key: Callable[[Record], Hashable]
    time: Callable[[Record], datetime]
    encode: Callable[[Event], Wire]
    scored: Callable[[Record], str] | None = None  # the text whose tone the page shows


KINDS: tuple[Kind, ...] = (
    Kind(PRICES, PriceBar, "bars", "on_bar", attrgetter("symbol", "event_time"),
         attrgetter("event_time"), lambda ev: bar_wire(ev.record)),
    Kind(NEWS, NewsItem, "news", "on_news", attrgetter("id"), attrgetter("published_at"),
         lambda ev: news_wire(ev.record, ev.tone), scored=attrgetter("headline")),
    Kind(SIGNALS, TradingSignal, "signals", "on_signal", attrgetter("signal_id"),
         attrgetter("bar_time"), lambda ev: signal_wire(ev.record)),
    # `t` of an order is its wall clock; its bars are in the wire's bar_t and fill_t.
    Kind(ORDERS, Order, "orders", "on_order", attrgetter("client_order_id"),
         attrgetter("updated_at"), lambda ev: order_wire(ev.record, ev.signal_t)),
)
BY_TOPIC: dict[str, Kind] = {k.topic: k for k in KINDS}
_BY_CONTRACT: dict[type, Kind] = {k.contract: k for k in KINDS}
TOPICS: tuple[str, ...] = tuple(BY_TOPIC)

R = TypeVar("R")


class Folder(Generic[R]):
    """Something records are folded into. A kind it has no method for is ignored (None)."""

    def on_bar(self, ev: Event) -> R | None:
        return None

    def on_news(self, ev: Event) -> R | None:
        return None

    def on_signal(self, ev: Event) -> R | None:
        return None

    def on_order(self, ev: Event) -> R | None:
        return None


def fold(folder: Folder[R], ev: Event) -> R | None:
    """Hand `ev` to the method of `folder` for its kind."""
    return getattr(folder, ev.kind.handler)(ev)
