"""What the consumer needs from a broker, whichever it is (Alpaca paper account or the simulator).

Submission is idempotent by `client_order_id`: submitting the same request twice returns the
order that already exists. A broker that says no raises `BrokerRejected` (nothing was placed);
one that cannot be reached, or answers nonsense, raises `BrokerUnavailable`, saying whether the
order may exist. `halted` (the kill switch) is asked before every attempt to send an order,
retries included: once it answers, nothing more is sent and `OrderHalted` is raised.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tradeflow.contracts import OrderSide, OrderStatus


class MarketBar(Protocol):
    """What the trading engine and the paper broker read of a bar: a `PriceBar` off the topic,
    or the backtest's plain tuple (building a pydantic model per bar of history is its slowest
    step)."""

    @property
    def symbol(self) -> str: ...
    @property
    def event_time(self) -> datetime: ...
    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...


def client_order_id(signal_id: str) -> str:
    """The one order id a signal can ever have: the same signal never makes a second order."""
    return "tf-" + hashlib.sha256(signal_id.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: float  # signed: negative = short
    market_value: float  # signed like qty
    avg_price: float


@dataclass(frozen=True)
class Account:
    equity: float
    cash: float
    positions: dict[str, Position]
    # Equity at the start of the trading day when the broker knows it (Alpaca's `last_equity`).
    day_start_equity: float | None = None


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str
    signal_id: str
    symbol: str
    side: OrderSide
    qty: float
    price: float  # the signal's price: the paper broker fills there (plus slippage)
    order_type: str = "market"  # or "bracket"
    stop_loss: float | None = None
    take_profit: float | None = None
    # The end of the bar the order was decided on: the paper broker fills it at the open of the
    # symbol's first bar after that (a real broker fills at its market).
    not_before: datetime | None = None


@dataclass(frozen=True)
class ExitLeg:
    """One exit leg of a bracket order, as the broker reports it: the stop-loss (a stop order)
    or the take-profit (a limit order). The broker works it; the engine only learns its fate."""

    reason: str  # "stop_loss" | "take_profit"
    broker_order_id: str
    status: OrderStatus
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    filled_at: datetime | None = None
    fill_bar_time: datetime | None = None  # paper broker: the end of the bar it filled in
    fee: float = 0.0


@dataclass(frozen=True)
class BrokerOrder:
    """The broker's view of an order, reduced to what the `Order` contract carries."""

    broker_order_id: str
    status: OrderStatus
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    detail: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    filled_at: datetime | None = None  # the instant of the (last) fill, when the broker says
    legs: tuple[ExitLeg, ...] = ()  # a bracket order's exit legs
    fill_bar_time: datetime | None = None  # paper broker: the end of the bar it filled in


class BrokerError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BrokerRejected(BrokerError):
    """The broker refused the order (a 4xx other than 429): it does not exist there."""


class BrokerUnavailable(BrokerError):
    """The broker kept failing. `may_exist`: an attempt's outcome is unknown (timeout, 5xx)."""

    def __init__(self, message: str, status: int | None = None, may_exist: bool = False) -> None:
        super().__init__(message, status)
        self.may_exist = may_exist


class OrderHalted(BrokerError):
    """The kill switch was engaged before the order was sent: it does not exist at the broker."""


# The kill switch as an executor sees it: the reason it is engaged, or None.
Halted = Callable[[], str | None]


class Executor(ABC):
    name: str
    # Alpaca refuses fractional bracket orders: the engine rounds a bracket's quantity down to
    # whole shares for a broker that says False here.
    fractional_brackets: bool = True
    # The paper broker fills on the bars the engine hands it: nothing to poll for until then.
    fills_on_bars: bool = False

    @abstractmethod
    def account(self) -> Account:
        """Equity, cash and positions now. Raises BrokerUnavailable."""

    @abstractmethod
    def market_open(self, now: datetime) -> bool:
        """Whether orders can trade now (Alpaca ignores `now` and asks its own clock)."""

    @abstractmethod
    def submit(self, req: OrderRequest, maybe_sent: bool = False,
               halted: Halted | None = None) -> BrokerOrder:
        """Place `req` unless an order with its client_order_id exists; return that order.
        `maybe_sent`: an earlier attempt (before a restart) may have reached the broker.
        `halted`: asked before every attempt to send (see the module docstring)."""

    @abstractmethod
    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client_order_id, or None if the broker has none."""

    @abstractmethod
    def status(self, broker_order_id: str) -> BrokerOrder:
        """The order's current state."""

    def observe_price(self, symbol: str, price: float, at: datetime) -> None:  # noqa: B027
        """A price seen on a signal (the simulator marks positions to it)."""

    def on_bar(self, bar: MarketBar) -> bool:
        """A bar of `stock-prices`; True if it filled anything. The paper broker is a market: it
        fills and triggers orders on bars. A real broker has its own market and ignores them."""
        return False

    def cancel_legs(self, broker_order_id: str) -> None:  # noqa: B027
        """Cancel the exit legs of a bracket order that are still working, before the engine
        closes its position another way (horizon, opposite signal). Raises BrokerError."""

    def close(self) -> None:  # noqa: B027
        pass
