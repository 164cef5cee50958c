"""Per-stock summary over the session and over sliding windows, from bars, signals and orders.

Clock: EVENT time, per symbol. A window `15m` holds the bars whose end time is within 15 minutes
of that symbol's latest bar (so a replay or the simulator, whose bars run ahead of the wall
clock, gives the same figures as live data). The SESSION is the New York calendar day of the
symbol's latest bar: it starts with the first bar after midnight America/New_York, so it does not
depend on when the dashboard started (history is replayed on start) and pre/after-hours bars of
that day count. It rolls over when a bar of the next day arrives.

Figures over a range of bars: `open` (first bar's open), `last` (last close), `change` and
`change_pct` (last against that open), `high`, `low`, `volume`, and `vwap` = sum(typical price x
volume) / sum(volume) with typical price = (high + low + close) / 3 (bars do not carry trades,
the usual bar approximation).

P&L from the `orders` topic, in the paper broker's position book (tradeflow.trading.book,
average cost): each increase of an order's `filled_qty` is a fill of the increase at its implied
price. A fill is dated by the end of the bar it filled in (`fill_bar_time`), else by the bar the
order was decided on (its `bar_time`), else by the `bar_time` of its signal when the dashboard saw
it, else by the order's `updated_at`, so realised P&L falls in the same event-time windows as the
bars. Unrealised P&L is the open position marked at the latest close. Gross of fees (orders carry
none).

Bounded: per symbol the last `retention` bars (a day of 1-minute bars by default), signals and
fills; a range reaching past what is kept is flagged `complete: false`.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from tradeflow import durations
from tradeflow.trading.book import PositionBook

from .records import Event, Folder, fold

NEW_YORK = ZoneInfo("America/New_York")
SESSION = "session"


def parse_window(text: str | None) -> float | None:
    """Seconds of a window such as `15m`, `1h`, `90s`; None for the session. ValueError if bad."""
    if text is None or text == "" or text == SESSION:
        return None
    try:
        return durations.seconds(text)
    except ValueError:
        raise ValueError(f"bad window {text!r}: give a duration like 15m, 1h, 30s, 1d or 'session'") from None


def session_start(t: float) -> float:
    """Epoch seconds of midnight America/New_York on the New York day of `t`."""
    day = datetime.fromtimestamp(t, timezone.utc).astimezone(NEW_YORK).date()
    return datetime.combine(day, time(0), NEW_YORK).timestamp()


@dataclass
class _Symbol:
    bars: deque  # (t, open, high, low, close, volume), increasing t
    signals: deque  # (t, action)
    realized: deque  # (t, amount)
    evicted_t: float | None = None  # end time of the newest bar dropped by the retention cap
    realized_total: float = 0.0
    late_bars: int = 0


@dataclass
class Aggregator(Folder[bool]):
    retention: int = 1500
    max_symbols: int = 100
    max_tracked: int = 10_000  # orders and signal ids remembered for fills and dating
    symbols: dict[str, _Symbol] = field(default_factory=dict)
    book: PositionBook = field(default_factory=PositionBook)
    _fills: OrderedDict = field(default_factory=OrderedDict)  # coid -> (filled_qty, notional)
    _signal_times: OrderedDict = field(default_factory=OrderedDict)  # signal_id -> bar_time
    _signal_ids: OrderedDict = field(default_factory=OrderedDict)

    def _sym(self, symbol: str) -> _Symbol | None:
        s = self.symbols.get(symbol)
        if s is None and len(self.symbols) < self.max_symbols:
            s = self.symbols[symbol] = _Symbol(deque(), deque(maxlen=self.retention),
                                               deque(maxlen=self.retention))
        return s

    def _remember(self, d: OrderedDict, key: str, value: object) -> None:
        d[key] = value
        d.move_to_end(key)
        if len(d) > self.max_tracked:
            d.popitem(last=False)

    def signal_time(self, signal_id: str) -> float | None:
        """The bar time (epoch seconds) of a signal seen, if still remembered."""
        return self._signal_times.get(signal_id)

    # --- input ------------------------------------------------------------------------------
    def apply(self, ev: Event) -> bool:
        """Fold one record in; True if any figure may have changed."""
        return bool(fold(self, ev))

    def on_bar(self, ev: Event) -> bool:
        b = ev.record
        return self.add_bar(b.symbol, int(ev.t), b.open, b.high, b.low, b.close, b.volume)

    def on_signal(self, ev: Event) -> bool:
        s = ev.record
        return self.add_signal(s.signal_id, s.symbol, ev.t, s.action.value)

    def on_order(self, ev: Event) -> bool:
        o = ev.record
        filled_in = o.fill_bar_time or o.bar_time
        return self.add_order(o.client_order_id, o.signal_id, o.symbol, o.side.value,
                              o.filled_qty, o.filled_avg_price, ev.t,
                              filled_in.timestamp() if filled_in is not None else None)

    def add_bar(self, symbol: str, t: float, o: float, h: float, low: float, c: float,
                v: float) -> bool:
        s = self._sym(symbol)
        if s is None:
            return False
        if s.bars and t <= s.bars[-1][0]:
            if t == s.bars[-1][0]:  # a redelivery (or a correction) of the latest bar
                s.bars[-1] = (t, o, h, low, c, v)
                return True
            s.late_bars += 1  # out of order per symbol: no backend reorders, so a stale replay
            return False
        s.bars.append((t, o, h, low, c, v))
        if len(s.bars) > self.retention:
            s.evicted_t = s.bars.popleft()[0]
        return True

    def add_signal(self, signal_id: str, symbol: str, t: float, action: str) -> bool:
        self._remember(self._signal_times, signal_id, t)
        if signal_id in self._signal_ids:
            return False
        s = self._sym(symbol)
        if s is None:
            return False
        self._remember(self._signal_ids, signal_id, None)
        s.signals.append((t, action))
        return True

    def add_order(self, coid: str, signal_id: str, symbol: str, side: str, filled_qty: float,
                  filled_avg_price: float | None, updated_t: float,
                  fill_t: float | None = None) -> bool:
        s = self._sym(symbol)
        if s is None or filled_avg_price is None:
            return False
        old_qty, old_notional = self._fills.get(coid, (0.0, 0.0))
        if filled_qty <= old_qty + 1e-12:
            return False  # no new fill: a status change, or a redelivery
        notional = filled_qty * filled_avg_price
        self._remember(self._fills, coid, (filled_qty, notional))
        qty = filled_qty - old_qty
        effect = self.book.fill(symbol, qty if side == "buy" else -qty,
                                (notional - old_notional) / qty)
        if effect.closed_qty:
            t = fill_t if fill_t is not None else self._signal_times.get(signal_id, updated_t)
            s.realized_total += effect.realized
            s.realized.append((t, effect.realized))
        return True

    # --- output -----------------------------------------------------------------------------
    def summary(self, window: str | None = SESSION) -> dict:
        """Figures per symbol over the session or a window (see the module doc), plus totals."""
        seconds = parse_window(window)
        out: dict[str, dict] = {}
        for sym in sorted(self.symbols):
            out[sym] = self._symbol_summary(sym, self.symbols[sym], seconds)
        totals = {
            "realized_pnl": round(sum(x["realized_pnl"] for x in out.values()), 2),
            "unrealized_pnl": round(sum(x["unrealized_pnl"] or 0 for x in out.values()), 2),
            "buy_signals": sum(x["signals"]["buy"] for x in out.values()),
            "sell_signals": sum(x["signals"]["sell"] for x in out.values()),
            "open_positions": sum(1 for x in out.values() if x["position"]["qty"]),
        }
        totals["total_pnl"] = round(totals["realized_pnl"] + totals["unrealized_pnl"], 2)
        return {"window": window or SESSION, "window_seconds": seconds, "clock": "event time",
                "symbols": out, "totals": totals}

    def _symbol_summary(self, symbol: str, s: _Symbol, seconds: float | None) -> dict:
        latest = s.bars[-1][0] if s.bars else max(
            [t for t, _ in s.realized] + [t for t, _ in s.signals], default=None)
        if latest is None:
            start = float("-inf")
        elif seconds is None:
            start = session_start(latest)
        else:
            start = latest - seconds
        bars = [b for b in s.bars if b[0] > start]
        stats = bar_stats(bars)
        buys = sum(1 for t, a in s.signals if t > start and a == "BUY")
        sells = sum(1 for t, a in s.signals if t > start and a == "SELL")
        realized = sum(p for t, p in s.realized if t > start)
        last = s.bars[-1][4] if s.bars else None
        held = self.book.holdings.get(symbol)
        unrealized = held.qty * (last - held.avg_price) if (last is not None and held) else 0.0
        stats.update({
            "from_t": None if start == float("-inf") else start, "to_t": latest,
            "complete": s.evicted_t is None or s.evicted_t <= start,
            "signals": {"buy": buys, "sell": sells, "total": buys + sells},
            "position": {"qty": held.qty if held else 0.0,
                         "avg_price": round(held.avg_price, 4) if held else None},
            "realized_pnl": round(realized, 2),
            "realized_pnl_all": round(s.realized_total, 2),
            "unrealized_pnl": round(unrealized, 2),
            "total_pnl": round(realized + unrealized, 2),
        })
        return stats


def bar_stats(bars: list[tuple]) -> dict:
    """open/last/change/high/low/volume/vwap of bars (t, o, h, l, c, v) in time order."""
    if not bars:
        return {"bars": 0, "open": None, "last": None, "change": None, "change_pct": None,
                "high": None, "low": None, "volume": 0.0, "vwap": None}
    first, last = bars[0], bars[-1]
    volume = sum(b[5] for b in bars)
    pv = sum((b[2] + b[3] + b[4]) / 3 * b[5] for b in bars)
    change = last[4] - first[1]
    return {"bars": len(bars), "open": first[1], "last": last[4], "change": round(change, 4),
            "change_pct": round(change / first[1] * 100, 4),
            "high": max(b[2] for b in bars), "low": min(b[3] for b in bars),
            "volume": volume, "vwap": round(pv / volume, 4) if volume > 0 else None}
