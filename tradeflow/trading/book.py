"""The position book: signed positions at average cost, realised and unrealised P&L, fees.

One implementation for every place that keeps positions from fills: the paper broker's account,
the dashboard's P&L and the backtest's trades. Average cost: a fill that adds to a position (or
opens one) moves its average price; a fill that reduces it realises (price - average) x quantity,
sign flipped for a short, and leaves the average alone; a fill larger than the position closes it
and opens the rest the other way at the fill's price. Realised P&L is gross of fees; fees are
summed apart. Unrealised P&L marks each position at the last price given to `mark` (or the fill).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

EPSILON = 1e-9  # quantities closer to zero than this are flat (float fills of fractions)


@dataclass
class Holding:
    qty: float  # signed: negative = short
    avg_price: float
    last_price: float

    @property
    def unrealized(self) -> float:
        return self.qty * (self.last_price - self.avg_price)


@dataclass(frozen=True)
class FillEffect:
    """What one fill did to its symbol's position."""

    realized: float  # gross P&L realised by the part that reduced the position
    closed_qty: float  # how much of the old position it closed (unsigned)
    opened_qty: float  # how much it opened or added (unsigned)
    position_qty: float  # the signed position after it


class PositionBook:
    def __init__(self, holdings: dict[str, Holding] | None = None, realized_pnl: float = 0.0,
                 fees: float = 0.0) -> None:
        self.holdings: dict[str, Holding] = holdings or {}
        self.realized_pnl = realized_pnl
        self.fees = fees

    def fill(self, symbol: str, signed_qty: float, price: float, fee: float = 0.0,
             mark: float | None = None) -> FillEffect:
        """Apply a fill (`signed_qty` > 0 bought). `mark`: the market price to mark the position
        at afterwards (the paper broker marks at the market, so slippage shows as unrealised)."""
        self.fees += fee
        h = self.holdings.get(symbol)
        old = h.qty if h is not None else 0.0
        realized = closed = 0.0
        if h is None or abs(old) < EPSILON or (old > 0) == (signed_qty > 0):
            avg = h.avg_price if h is not None and abs(old) >= EPSILON else price
            avg = (old * avg + signed_qty * price) / (old + signed_qty)
            opened = abs(signed_qty)
        else:
            closed = min(abs(signed_qty), abs(old))
            realized = closed * (price - h.avg_price) * (1 if old > 0 else -1)
            opened = abs(signed_qty) - closed
            avg = price if opened > EPSILON else h.avg_price
        self.realized_pnl += realized
        new = old + signed_qty
        if abs(new) < EPSILON:
            self.holdings.pop(symbol, None)
            new = 0.0
        else:
            self.holdings[symbol] = Holding(new, avg, price if mark is None else mark)
        return FillEffect(realized, closed, max(opened, 0.0), new)

    def mark(self, symbol: str, price: float) -> bool:
        """Mark a held position at `price`; True if that changed anything."""
        h = self.holdings.get(symbol)
        if h is None or h.last_price == price:
            return False
        h.last_price = price
        return True

    def qty(self, symbol: str) -> float:
        h = self.holdings.get(symbol)
        return h.qty if h is not None else 0.0

    @property
    def market_value(self) -> float:
        """Signed: longs count positive, shorts negative (cash + this = equity)."""
        return sum(h.qty * h.last_price for h in self.holdings.values())

    @property
    def gross_exposure(self) -> float:
        return sum(abs(h.qty * h.last_price) for h in self.holdings.values())

    @property
    def unrealized_pnl(self) -> float:
        return sum(h.unrealized for h in self.holdings.values())

    # --- persistence (the paper broker's state file) ---------------------------------------
    def holdings_dict(self) -> dict[str, dict[str, float]]:
        return {sym: asdict(h) for sym, h in self.holdings.items()}

    @classmethod
    def from_state(cls, positions: dict[str, dict[str, Any]], realized_pnl: float,
                   fees: float) -> "PositionBook":
        return cls({sym: Holding(float(p["qty"]), float(p["avg_price"]), float(p["last_price"]))
                    for sym, p in positions.items()}, float(realized_pnl), float(fees))
