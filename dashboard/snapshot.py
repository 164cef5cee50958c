"""The dashboard's in-memory picture of the pipeline, bounded in every dimension.

What a browser gets on connect: the last `bars_per_symbol` bars of each symbol, the last
`max_signals` signals, the latest state of the last `max_orders` orders, the last `max_news`
stories (and `news_per_symbol` per symbol) and the sentiment per symbol. Memory never grows with
the length of the topics: every collection has a cap, and at most `max_symbols` symbols are
tracked (records of further symbols are counted and ignored), so a replay of a long history or a
flood of junk tickers cannot exhaust the process.

Delivery is at-least-once, so `apply` is idempotent: a bar replaces the bar of the same symbol and
time, signals and news are keyed by id, an order by client_order_id (a newer update wins).

What the data is (`provenance`): derived from the `source` of the bars held (what the charts
show), never guessed: `sim` (the simulator: real tickers, invented prices) is SIMULATED,
`replay:<file>` (producers/replay.py via tradeflow/datasets.py) is REPLAY, `alpaca` (the Alpaca
producer and the price-ingest Lambda) is LIVE; anything else is shown by name; several kinds at
once are MIXED, with the symbols of each kind.

One clock: each order carries `bar_t`, the end of the bar it was decided on (its `bar_time`, the
event time of the charts and the signal feed), and `fill_t`, the end of the bar it filled in
(`fill_bar_time`), or None when the broker does not say; `t` stays the order's wall-clock
`updated_at`. A record without a `bar_time` (written before orders carried one) is dated by its
signal's bar time instead, or None until its signal is seen, and dated when the signal comes.
"""

from __future__ import annotations

import bisect
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tradeflow.contracts import PriceBar

from .records import Event, Folder, fold
from .wire import Wire, order_bar_t


@dataclass(frozen=True)
class Limits:
    bars_per_symbol: int = 390  # one regular session of 1-minute bars
    max_signals: int = 200
    max_orders: int = 200
    max_news: int = 100
    news_per_symbol: int = 12
    max_symbols: int = 100


SIMULATED, REPLAY, LIVE, OTHER = "simulated", "replay", "live", "other"
MIXED, NONE = "mixed", "none"
_KINDS = (LIVE, REPLAY, SIMULATED, OTHER)  # display order
_LABELS = {SIMULATED: "SIMULATED DATA — invented prices",
           REPLAY: "REPLAY — recorded bars from files",
           LIVE: "LIVE — Alpaca market data",
           NONE: "no bars yet"}
_MAX_SOURCE_NAMES = 10


def source_kind(source: str) -> str:
    """What a PriceBar's `source` says about its prices (see the module doc)."""
    s = source.strip().lower()
    if s == "sim" or s.startswith(("sim:", "sim-")):
        return SIMULATED
    if s == "replay" or s.startswith("replay:"):
        return REPLAY
    if s == "alpaca" or s.startswith("alpaca:"):
        return LIVE
    return OTHER


def _in_time_order(events: Iterable[Event]) -> list[Wire]:
    return [ev.wire for ev in sorted(events, key=lambda ev: ev.t)]


def _put_bounded(d: OrderedDict, key: object, value: object, cap: int) -> None:
    d[key] = value
    d.move_to_end(key)
    while len(d) > cap:
        d.popitem(last=False)


class DashboardState(Folder[Event]):
    def __init__(self, limits: Limits | None = None,
                 signal_time: Callable[[str], float | None] | None = None) -> None:
        self.limits = limits or Limits()
        # Bar time of a signal by id, for signals no longer held (the server passes the
        # aggregator's longer memory); the held signals are always looked up first.
        self.signal_time = signal_time
        self.bars: dict[str, list[Wire]] = {}  # what browsers get, parallel to the two below
        self._bar_times: dict[str, list[int]] = {}
        self._bar_records: dict[str, list[PriceBar]] = {}
        self._source_counts: dict[str, Counter] = {}  # per symbol: held bars per source
        self._awaiting: OrderedDict[str, set[str]] = OrderedDict()  # signal id -> undated orders
        self.redated: list[Event] = []  # orders dated by a late signal, for the server to send
        self.signals: OrderedDict[str, Event] = OrderedDict()
        self.orders: OrderedDict[str, Event] = OrderedDict()
        self.news: OrderedDict[str, Event] = OrderedDict()
        self.news_by_symbol: dict[str, OrderedDict[str, Event]] = {}
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
        self._bar_records[symbol], self._source_counts[symbol] = [], Counter()
        return True

    def apply(self, ev: Event) -> Wire | None:
        """Fold one record in. Returns what the browsers should receive, or None (nothing new)."""
        out = fold(self, ev)
        return out.wire if out is not None else None

    def on_signal(self, ev: Event) -> Event | None:
        s = ev.record
        self._date_orders(s.signal_id, ev.t)
        if not self._admit(s.symbol) or s.signal_id in self.signals:
            return None
        _put_bounded(self.signals, s.signal_id, ev, self.limits.max_signals)
        if s.sentiment is not None:
            prev = self.signal_sentiment.get(s.symbol)
            if prev is None or ev.t >= prev["t"]:
                self.signal_sentiment[s.symbol] = {"value": s.sentiment, "t": ev.t}
        return ev

    def on_order(self, ev: Event) -> Event | None:
        o = ev.record
        if not self._admit(o.symbol):
            return None
        coid = o.client_order_id
        old = self.orders.get(coid)
        if old is not None and (old.t, old.record.filled_qty) > (ev.t, o.filled_qty):
            return None  # an older status redelivered late
        if o.bar_time is None:  # a record without its own bar_time: its signal's
            signal_t = self._signal_t(o.signal_id)
            if signal_t is not None:
                ev = ev.dated(signal_t)
        if old == ev:
            return None
        _put_bounded(self.orders, coid, ev, self.limits.max_orders)
        if order_bar_t(o, ev.signal_t) is None:
            _put_bounded(self._awaiting, o.signal_id,
                         self._awaiting.get(o.signal_id, set()) | {coid},
                         self.limits.max_orders)
        return ev

    def on_news(self, ev: Event) -> Event | None:
        n = ev.record
        if n.id in self.news:
            return None
        _put_bounded(self.news, n.id, ev, self.limits.max_news)
        for sym in n.symbols:
            if sym in self.bars or self._admit(sym):
                per = self.news_by_symbol.setdefault(sym, OrderedDict())
                _put_bounded(per, n.id, ev, self.limits.news_per_symbol)
        return ev

    def _signal_t(self, signal_id: str) -> float | None:
        held = self.signals.get(signal_id)
        if held is not None:
            return held.t
        return self.signal_time(signal_id) if self.signal_time is not None else None

    def _date_orders(self, signal_id: str, t: float) -> None:
        for coid in self._awaiting.pop(signal_id, ()):
            held = self.orders.get(coid)
            if held is not None and order_bar_t(held.record, held.signal_t) is None:
                held = self.orders[coid] = held.dated(t)  # keeps its place in the cap order
                self.redated.append(held)
        del self.redated[:-self.limits.max_orders]  # bounded even if nobody takes them

    def take_redated(self) -> list[Event]:
        out, self.redated = self.redated, []
        return out

    def on_bar(self, ev: Event) -> Event | None:
        b = ev.record
        sym, t = b.symbol, int(ev.t)
        if not self._admit(sym):
            return None
        bars, times, records = self.bars[sym], self._bar_times[sym], self._bar_records[sym]
        counts = self._source_counts[sym]
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] == t:
            if records[i] == b:
                return None
            self._uncount(counts, records[i].source)
            bars[i], records[i] = ev.wire, b
            counts[b.source] += 1
            return ev
        if len(bars) >= self.limits.bars_per_symbol and i == 0:
            return None  # older than everything we keep
        bars.insert(i, ev.wire)
        times.insert(i, t)
        records.insert(i, b)
        counts[b.source] += 1
        if len(bars) > self.limits.bars_per_symbol:
            self._uncount(counts, records[0].source)
            del bars[0], times[0], records[0]
        return ev

    @staticmethod
    def _uncount(counts: Counter, source: str) -> None:
        counts[source] -= 1
        if counts[source] <= 0:
            del counts[source]

    # --- reading ----------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        return sorted(self.bars)

    def sentiment(self) -> dict[str, dict]:
        """Per symbol: the job's sentiment from its latest signal, and the mean tone of the
        recent headlines (scored here, for display)."""
        out: dict[str, dict] = {}
        for sym in self.symbols():
            scores = [n.tone[0] for n in self.news_by_symbol.get(sym, {}).values()
                      if n.tone is not None]
            sig = self.signal_sentiment.get(sym)
            out[sym] = {"signal": sig["value"] if sig else None,
                        "signal_t": sig["t"] if sig else None,
                        "headlines": round(sum(scores) / len(scores), 3) if scores else None,
                        "headline_count": len(scores)}
        return out

    def provenance(self) -> dict:
        """What the held bars are: `kind` (simulated, replay, live, other, mixed or none), a
        `label` for the page, the `kinds` present, the `symbols` of each kind and a few source
        names. Changes only when the mix of sources changes, not with every bar."""
        symbols: dict[str, list[str]] = {}
        names: set[str] = set()
        for sym in sorted(self._source_counts):
            kinds_here = set()
            for src in self._source_counts[sym]:
                kinds_here.add(source_kind(src))
                names.add(src)
            for k in kinds_here:
                symbols.setdefault(k, []).append(sym)
        kinds = [k for k in _KINDS if k in symbols]
        shown = sorted(names)[:_MAX_SOURCE_NAMES]
        if not kinds:
            kind, label = NONE, _LABELS[NONE]
        elif len(kinds) > 1:
            kind = MIXED
            parts = [("simulated (invented prices)" if k == SIMULATED else k) for k in kinds]
            label = "MIXED DATA — " + " + ".join(parts)
        elif kinds[0] == OTHER:
            kind, label = OTHER, "UNKNOWN SOURCE — bars from " + ", ".join(shown)
        else:
            kind, label = kinds[0], _LABELS[kinds[0]]
        return {"kind": kind, "label": label, "kinds": kinds, "symbols": symbols,
                "sources": shown}

    def snapshot(self) -> dict:
        return {
            "symbols": self.symbols(),
            "bars": {s: list(b) for s, b in self.bars.items()},
            "signals": _in_time_order(self.signals.values()),
            "orders": _in_time_order(self.orders.values()),
            "news": _in_time_order(self.news.values()),
            "headlines": {s: _in_time_order(d.values()) for s, d in self.news_by_symbol.items()},
            "sentiment": self.sentiment(),
            "provenance": self.provenance(),
        }

    def size(self) -> int:
        """Number of records held (for the bound checks in the tests and /metrics)."""
        return (sum(len(b) for b in self.bars.values()) + len(self.signals) + len(self.orders)
                + len(self.news) + sum(len(d) for d in self.news_by_symbol.values()))
