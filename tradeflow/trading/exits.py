"""How a position opened from a signal ends: stop-loss, take-profit, horizon or an opposite signal.

The rules, the same live, on paper and in the backtest:

* stop and target are watched on every bar after the entry, the entry's own bar included (the
  entry fills at its open): a long is stopped when a bar's low reaches the stop and takes profit
  when its high reaches the target; a short the other way round;
* a bar that OPENS beyond the stop (or the target) fills at its open, not at the level: a gap
  cannot be traded through;
* when one bar reaches both the stop and the target, the stop is assumed first: a bar says
  nothing about the order of its low and its high, and assuming the worse keeps results honest;
* the horizon: a position opened from a signal with `horizon_bars` = h is held for at most h bars
  of its symbol (the entry bar is the first) and closed at the open of the bar after them;
* an opposite signal closes the position at the next bar's open (the risk manager's rule).

`trigger` is the stop/target rule for one bar; `Trade` is what the engine remembers about an
open position until it closes, and what it reports after.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from tradeflow.contracts import to_wire_time

STOP_LOSS, TAKE_PROFIT, HORIZON, SIGNAL = "stop_loss", "take_profit", "horizon", "signal"
EXIT_REASONS = (STOP_LOSS, TAKE_PROFIT, HORIZON, SIGNAL)


@dataclass(frozen=True)
class Trigger:
    reason: str  # STOP_LOSS | TAKE_PROFIT
    price: float  # the level, or the bar's open when it opened beyond it
    at_open: bool


def _reached(price: float, level: float, below: bool) -> bool:
    """Whether `price` is at `level` or beyond it, on the side `below` says."""
    return price <= level if below else price >= level


def trigger(long: bool, stop: float | None, target: float | None, open_: float, high: float,
            low: float) -> Trigger | None:
    """Whether this bar ends the position at its stop or its target (see the module doc)."""
    # A long's stop lies below the price and its target above; a short's the other way round.
    toward_stop, toward_target = (low, high) if long else (high, low)
    if stop is not None and _reached(open_, stop, below=long):
        return Trigger(STOP_LOSS, open_, True)
    if target is not None and _reached(open_, target, below=not long):
        return Trigger(TAKE_PROFIT, open_, True)
    if stop is not None and _reached(toward_stop, stop, below=long):
        return Trigger(STOP_LOSS, stop, False)
    if target is not None and _reached(toward_target, target, below=not long):
        return Trigger(TAKE_PROFIT, target, False)
    return None


_DERIVED = ("pnl", "return_pct", "fees", "open")


def _time(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s.replace("Z", "+00:00")) if s else None


@dataclass
class Trade:
    """One position from its entry fill to its exit fill."""

    signal_id: str
    client_order_id: str  # the entry order's
    symbol: str
    side: str  # long | short
    qty: float
    entry_price: float
    entry_time: datetime  # the fill instant
    entry_bar_time: datetime  # the end of the bar the entry filled in
    stop_loss: float | None
    take_profit: float | None
    horizon_bars: int | None
    broker_order_id: str | None = None
    bracket: bool = False  # the broker works the stop and target (else the engine watches them)
    bars_held: int = 0  # bars of the symbol since the entry, its own bar included
    entry_fee: float = 0.0
    exit_order: str | None = None  # client_order_id of the order closing it, once sent
    exit_reason: str | None = None
    exit_price: float | None = None
    exit_time: datetime | None = None
    exit_bar_time: datetime | None = None
    exit_fee: float = 0.0
    last_bar_time: datetime | None = None  # the last bar counted in bars_held

    @property
    def long(self) -> bool:
        return self.side == "long"

    @property
    def open(self) -> bool:
        """Not closed yet (a backtest marks such a trade at the last close: `exit_price`)."""
        return self.exit_reason is None

    @property
    def fees(self) -> float:
        return self.entry_fee + self.exit_fee

    @property
    def pnl(self) -> float | None:
        """Net of both fills' fees; None without an exit (or mark) price."""
        if self.exit_price is None:
            return None
        direction = 1 if self.long else -1
        return direction * self.qty * (self.exit_price - self.entry_price) - self.fees

    @property
    def return_pct(self) -> float | None:
        pnl = self.pnl
        return None if pnl is None else pnl / (self.qty * self.entry_price)

    def to_dict(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict (a deep copy): the engine saves open trades every bar.
        d = {f: getattr(self, f) for f in _FIELDS}
        for k in _TIMES:
            d[k] = to_wire_time(d[k]) if d[k] is not None else None
        d.update(pnl=self.pnl, return_pct=self.return_pct, fees=self.fees, open=self.open)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Trade":
        d = {k: v for k, v in d.items() if k not in _DERIVED}
        for k in _TIMES:
            d[k] = _time(d.get(k))
        return cls(**d)


_FIELDS = tuple(f.name for f in fields(Trade))
_TIMES = ("entry_time", "entry_bar_time", "exit_time", "exit_bar_time", "last_bar_time")
