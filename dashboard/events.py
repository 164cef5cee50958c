"""What the dashboard keeps of each topic record, in the form the page receives it.

Records are validated with the shared contracts, then flattened into small JSON-ready dicts with
epoch-second times (`t`) so the page never parses dates on its hot path. The websocket schema
(documented in `hub.py`) is made of these dicts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS
from tradeflow.logs import mask_data
from tradeflow.contracts import (Contract, ContractError, NewsItem, Order, PriceBar,
                                 TradingSignal, parse, to_wire_time)

Wire = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Event:
    """One validated record: its topic, the contract object and its page form."""

    topic: str
    record: Contract
    wire: Wire


def bar_wire(b: PriceBar) -> Wire:
    return {"symbol": b.symbol, "t": int(b.event_time.timestamp()), "o": b.open, "h": b.high,
            "l": b.low, "c": b.close, "v": b.volume}


def signal_wire(s: TradingSignal) -> Wire:
    return {"id": s.signal_id, "symbol": s.symbol, "action": s.action.value,
            "strength": s.strength.value, "confidence": s.confidence, "price": s.price,
            "t": s.bar_time.timestamp(), "bar_time": to_wire_time(s.bar_time),
            "emitted_at": to_wire_time(s.emitted_at), "indicators": dict(s.indicators),
            "sentiment": s.sentiment, "reason": s.reason, "strategy": s.strategy,
            "stop_loss": s.stop_loss, "take_profit": s.take_profit}


def order_wire(o: Order) -> Wire:
    """The order as published, plus epoch seconds: `t` its wall-clock `updated_at`, and on the
    bars' clock `bar_t` (the bar it was decided on) and `fill_t` (the bar it filled in), None
    when the record does not say (`snapshot.py` then dates it by its signal)."""
    out = o.model_dump(mode="json", exclude={"v"})
    out["t"] = o.updated_at.timestamp()
    out["bar_t"] = o.bar_time.timestamp() if o.bar_time is not None else None
    out["fill_t"] = o.fill_bar_time.timestamp() if o.fill_bar_time is not None else None
    return out


def news_wire(n: NewsItem, scorer: Callable[[str], Any] | None) -> Wire:
    out: Wire = {"id": n.id, "symbols": list(n.symbols), "headline": n.headline,
                 "source": n.source, "published_at": to_wire_time(n.published_at),
                 "t": n.published_at.timestamp(), "url": n.url, "score": None, "label": None}
    if scorer is not None:
        # The headline's own tone, for display; the job's decayed sentiment arrives on signals.
        s = scorer(n.headline)
        out["score"], out["label"] = round(s.score, 3), s.label
    return out


# What the page and the summaries can use: event times from 1970 to 2200 (a session is a New
# York calendar day: a time at the edge of the calendar has none), numbers of at most 1e12 in size
# (sums and products of them stay finite, so every message is valid JSON for the browser).
MIN_T, MAX_T = 0.0, 7_258_118_400.0  # 1970-01-01, 2200-01-01 UTC
MAX_ABS = 1e12


def check_wire(w: Any, key: str = "") -> None:
    """Raise ContractError if a page dict holds a time or number the dashboard cannot use."""
    if isinstance(w, dict):
        for k, v in w.items():
            check_wire(v, k)
    elif isinstance(w, (list, tuple)):
        for v in w:
            check_wire(v, key)
    elif isinstance(w, (int, float)) and not isinstance(w, bool):
        if not math.isfinite(w) or abs(w) > MAX_ABS:
            raise ContractError(f"{key}: {w!r} is out of the range the dashboard shows")
        if key in ("t", "bar_t", "fill_t") and not MIN_T <= w < MAX_T:
            raise ContractError(f"{key}: time {w!r} is outside 1970..2200")


class Decoder:
    """Turns raw topic payloads into Events. Bad records raise ContractError (the caller counts
    them; producers and the consumer already dead-letter them, so the dashboard does not), as do
    valid ones the dashboard cannot show (`check_wire`). Other exceptions are possible on
    pathological input (e.g. OverflowError); the feed counts those as invalid too."""

    def __init__(self, scorer: Callable[[str], Any] | None = None) -> None:
        self.scorer = scorer

    def decode(self, topic: str, raw: bytes) -> Event:
        ev = self._decode(topic, raw)
        check_wire(ev.wire)
        return ev

    def _decode(self, topic: str, raw: bytes) -> Event:
        if topic == PRICES:
            bar = parse(PriceBar, raw)
            return Event(topic, bar, bar_wire(bar))
        if topic == SIGNALS:
            sig = parse(TradingSignal, raw)
            return Event(topic, sig, signal_wire(sig))
        if topic == ORDERS:
            order = parse(Order, raw)
            # Masked again before browsers see it: an order's detail quotes the broker.
            return Event(topic, order, mask_data(order_wire(order)))
        if topic == NEWS:
            item = parse(NewsItem, raw)
            return Event(topic, item, news_wire(item, self.scorer))
        raise ContractError(f"the dashboard does not read topic {topic!r}")


def default_scorer() -> Callable[[str], Any] | None:
    """The finance headline scorer from the shared package, or None if it cannot load."""
    try:
        from tradeflow.sentiment import get_scorer

        return get_scorer("finance")
    except Exception:  # noqa: BLE001 - headlines still show, just without a score
        return None
