"""The dashboard's in-memory picture of the pipeline, bounded in every dimension.

What a browser gets on connect: the last `bars_per_symbol` bars of each symbol, the last
`max_signals` signals, the latest state of the last `max_orders` orders, the last `max_news`
stories (and `news_per_symbol` per symbol) and the sentiment per symbol. Memory never grows with
the length of the topics: every collection has a cap, and at most `max_symbols` symbols are
tracked (records of further symbols are counted and ignored), so a replay of a long history or a
flood of junk tickers cannot exhaust the process.

Delivery is at-least-once, so `apply` is idempotent: a bar replaces the bar of the same symbol and
time, signals and news are keyed by id, an order by client_order_id (a newer update wins).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS

from .events import Event, Wire


@dataclass(frozen=True)
class Limits:
    bars_per_symbol: int = 390  # one regular session of 1-minute bars
    max_signals: int = 200
    max_orders: int = 200
    max_news: int = 100
    news_per_symbol: int = 12
    max_symbols: int = 100


def _put_bounded(d: OrderedDict, key: object, value: object, cap: int) -> None:
    d[key] = value
    d.move_to_end(key)
    while len(d) > cap:
        d.popitem(last=False)


class DashboardState:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.bars: dict[str, list[Wire]] = {}
        self._bar_times: dict[str, list[int]] = {}
        self.signals: OrderedDict[str, Wire] = OrderedDict()
        self.orders: OrderedDict[str, Wire] = OrderedDict()
        self.news: OrderedDict[str, Wire] = OrderedDict()
        self.news_by_symbol: dict[str, OrderedDict[str, Wire]] = {}
        self.signal_sentiment: dict[str, dict] = {}
        self.ignored_symbols = 0

    # --- applying records -------------------------------------------------------------------
    def _admit(self, symbol: str) -> bool:
        if symbol in self.bars:
            return True
        if len(self.bars) >= self.limits.max_symbols:
            self.ignored_symbols += 1
            return False
        self.bars[symbol], self._bar_times[symbol] = [], []
        return True

    def apply(self, ev: Event) -> Wire | None:
        """Fold one record in. Returns what the browsers should receive, or None (nothing new)."""
        w = ev.wire
        if ev.topic == PRICES:
            return self._bar(w)
        if ev.topic == SIGNALS:
            if not self._admit(w["symbol"]) or w["id"] in self.signals:
                return None
            _put_bounded(self.signals, w["id"], w, self.limits.max_signals)
            if w["sentiment"] is not None:
                prev = self.signal_sentiment.get(w["symbol"])
                if prev is None or w["t"] >= prev["t"]:
                    self.signal_sentiment[w["symbol"]] = {"value": w["sentiment"], "t": w["t"]}
            return w
        if ev.topic == ORDERS:
            if not self._admit(w["symbol"]):
                return None
            old = self.orders.get(w["client_order_id"])
            if old is not None and (old["t"], old["filled_qty"]) > (w["t"], w["filled_qty"]):
                return None  # an older status redelivered late
            if old == w:
                return None
            _put_bounded(self.orders, w["client_order_id"], w, self.limits.max_orders)
            return w
        if ev.topic == NEWS:
            if w["id"] in self.news:
                return None
            _put_bounded(self.news, w["id"], w, self.limits.max_news)
            for sym in w["symbols"]:
                if sym in self.bars or self._admit(sym):
                    per = self.news_by_symbol.setdefault(sym, OrderedDict())
                    _put_bounded(per, w["id"], w, self.limits.news_per_symbol)
            return w
        return None

    def _bar(self, w: Wire) -> Wire | None:
        sym, t = w["symbol"], w["t"]
        if not self._admit(sym):
            return None
        bars, times = self.bars[sym], self._bar_times[sym]
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] == t:
            if bars[i] == w:
                return None
            bars[i] = w
            return w
        if len(bars) >= self.limits.bars_per_symbol and i == 0:
            return None  # older than everything we keep
        bars.insert(i, w)
        times.insert(i, t)
        if len(bars) > self.limits.bars_per_symbol:
            del bars[0], times[0]
        return w

    # --- reading ----------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        return sorted(self.bars)

    def sentiment(self) -> dict[str, dict]:
        """Per symbol: the job's sentiment from its latest signal, and the mean tone of the
        recent headlines (scored here, for display)."""
        out: dict[str, dict] = {}
        for sym in self.symbols():
            scores = [n["score"] for n in self.news_by_symbol.get(sym, {}).values()
                      if n["score"] is not None]
            sig = self.signal_sentiment.get(sym)
            out[sym] = {"signal": sig["value"] if sig else None,
                        "signal_t": sig["t"] if sig else None,
                        "headlines": round(sum(scores) / len(scores), 3) if scores else None,
                        "headline_count": len(scores)}
        return out

    def snapshot(self) -> dict:
        return {
            "symbols": self.symbols(),
            "bars": {s: list(b) for s, b in self.bars.items()},
            "signals": sorted(self.signals.values(), key=lambda w: w["t"]),
            "orders": sorted(self.orders.values(), key=lambda w: w["t"]),
            "news": sorted(self.news.values(), key=lambda w: w["t"]),
            "headlines": {s: sorted(d.values(), key=lambda w: w["t"])
                          for s, d in self.news_by_symbol.items()},
            "sentiment": self.sentiment(),
        }

    def size(self) -> int:
        """Number of records held (for the bound checks in the tests and /metrics)."""
        return (sum(len(b) for b in self.bars.values()) + len(self.signals) + len(self.orders)
                + len(self.news) + sum(len(d) for d in self.news_by_symbol.values()))
