"""The page form of each record: small JSON-ready dicts with epoch-second times (`t`), so the page
never parses dates on its hot path. The websocket schema (documented in `hub.py`) is made of
these dicts. They are written here from typed records and only ever sent: nothing on the server
reads them back.
"""

from __future__ import annotations

import math
from typing import Any

from tradeflow.contracts import (ContractError, NewsItem, Order, PriceBar, TradingSignal,
                                 to_wire_time)
from tradeflow.logs import mask_data

Wire = dict[str, Any]
Tone = tuple[float, str]  # a headline's score (rounded) and label, from the headline scorer


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


def order_bar_t(o: Order, signal_t: float | None) -> float | None:
    """The end of the bar an order was decided on: its own `bar_time`, else its signal's bar
    time when known (records written before orders carried one)."""
    return o.bar_time.timestamp() if o.bar_time is not None else signal_t


def order_wire(o: Order, signal_t: float | None = None) -> Wire:
    """The order as published, plus epoch seconds: `t` its wall-clock `updated_at`, and on the
    bars' clock `bar_t` (the bar it was decided on, see `order_bar_t`) and `fill_t` (the bar it
    filled in), None when unknown. Masked again: an order's detail quotes the broker."""
    out = o.model_dump(mode="json", exclude={"v"})
    out["t"] = o.updated_at.timestamp()
    out["bar_t"] = order_bar_t(o, signal_t)
    out["fill_t"] = o.fill_bar_time.timestamp() if o.fill_bar_time is not None else None
    return mask_data(out)


def news_wire(n: NewsItem, tone: Tone | None) -> Wire:
    # The headline's own tone, for display; the job's decayed sentiment arrives on signals.
    score, label = tone if tone is not None else (None, None)
    return {"id": n.id, "symbols": list(n.symbols), "headline": n.headline,
            "source": n.source, "published_at": to_wire_time(n.published_at),
            "t": n.published_at.timestamp(), "url": n.url, "score": score, "label": label}


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
