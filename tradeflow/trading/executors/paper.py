"""The built-in paper broker: a simulated account and market, for running without Alpaca keys
and for the backtest, which drives this same broker over history.

Its market is the `stock-prices` bars the engine hands it (`on_bar`):

* a market order fills at the OPEN of its symbol's first bar that ends after the bar it was
  decided on (`OrderRequest.not_before`), made worse by `slippage_bps` (buyers pay more, sellers
  get less), plus fees; until that bar comes it is `accepted`. If that bar is already in the
  recent history (the bars ran ahead of the signal), it fills against it at once, so the fill
  does not depend on which of the two topics was read first;
* a bracket order's two exit legs work from the entry's fill on, by the rules of
  `tradeflow.trading.exits` (stop first when a bar reaches both; a gap fills at the open); the
  stop fills like a market order (slippage), the take-profit like a limit (at its level, or the
  better open); when one leg fills the other is cancelled.

It keeps cash, the positions (`PositionBook`) and the orders by client_order_id (submitting one
twice returns the first) in a journal under the data dir: one JSON line per change (the account
and the orders that changed), appended and fsynced, so a fill costs the same however many orders
came before, and a restart keeps everything. Loading replays the lines (a torn last line, from a
crash in mid-write, was never acknowledged and is skipped); the consumer, the journal's only
writer, rewrites it as one line when it has grown long. A state file of one JSON object (the
format before the journal) is read as one line. The recent bars are memory only.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tradeflow.contracts import OrderSide, OrderStatus, to_wire_time
from tradeflow.topics.positions import write_atomic

from .. import calendar
from ..book import PositionBook
from ..exits import STOP_LOSS, TAKE_PROFIT, trigger
from .base import (Account, BrokerOrder, BrokerRejected, Executor, ExitLeg, Halted, MarketBar,
                   OrderHalted, OrderRequest, Position)

HISTORY_BARS = 500  # per symbol: how far a late order can still find its fill bar
COMPACT_LINES = 1000  # a journal longer than this is rewritten as one line when the writer opens it
ACCOUNT_KEYS = ("cash", "starting_cash", "realized_pnl", "fees", "positions")
DEFAULT_SPACING = timedelta(minutes=1)
WORKING = (OrderStatus.accepted.value,)


def _fresh(cash: float) -> dict[str, Any]:
    return {"cash": cash, "starting_cash": cash, "realized_pnl": 0.0, "fees": 0.0,
            "positions": {}, "orders": {}}


class PaperStateError(ValueError):
    """The paper account's file cannot be read (one line, naming the file)."""


def load_state(path: Path, cash: float) -> tuple[dict[str, Any], int]:
    """The account a journal describes, and how many lines it has (the old format, one object
    over many lines, counts as more than any journal the writer keeps: it is rewritten)."""
    state = _fresh(cash)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return state, 0
    except OSError as err:
        raise PaperStateError(f"cannot read the paper account {path}: {err.strerror}") from None
    try:
        lines = [json.loads(text)] if text.strip() else []  # one line, or the old one-object file
        if text.count(b"\n") > 1:
            return _merge(path, state, lines), COMPACT_LINES + 1
    except ValueError:
        raw = text.splitlines()
        lines = []
        for n, line in enumerate(raw, 1):
            try:
                lines.append(json.loads(line))
            except ValueError:
                if n == len(raw) and not text.endswith(b"\n"):
                    break  # torn by a crash in mid-append: never acknowledged
                raise PaperStateError(
                    f"paper account {path} line {n} is not JSON; move the file away to start a "
                    f"fresh account") from None
    return _merge(path, state, lines), len(lines)


def _merge(path: Path, state: dict[str, Any], lines: list[Any]) -> dict[str, Any]:
    for line in lines:
        if not isinstance(line, dict) or not isinstance(line.get("orders", {}), dict):
            raise PaperStateError(f"paper account {path} is not a paper broker's journal; move "
                                  f"it away to start a fresh account")
        state.update({k: line[k] for k in ACCOUNT_KEYS if k in line})
        state["orders"].update(line.get("orders", {}))
    return state


def _time(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s.replace("Z", "+00:00")) if s else None


class _Bar:
    __slots__ = ("start", "end", "open", "high", "low", "close")

    def __init__(self, start: datetime, bar: MarketBar) -> None:
        self.start, self.end = start, bar.event_time
        self.open, self.high, self.low, self.close = bar.open, bar.high, bar.low, bar.close


class PaperBroker(Executor):
    name = "paper"
    fills_on_bars = True

    def __init__(self, path: Path | None, cash: float = 100_000.0, slippage_bps: float = 0.0,
                 fee_bps: float = 0.0, fee_per_order: float = 0.0, writer: bool = False) -> None:
        """`path` None: the account lives in memory only (the backtest). `writer`: this process
        trades on the account (the consumer) and may compact its journal; readers (status, the
        dashboard) never write."""
        self.path = Path(path) if path is not None else None
        self.slippage = slippage_bps / 10_000
        self.fee_bps = fee_bps / 10_000
        self.fee_per_order = fee_per_order
        self._lock = threading.Lock()
        self.state: dict[str, Any] = _fresh(cash)
        lines = 0
        if self.path is not None:
            self.state, lines = load_state(self.path, cash)
        self.book = PositionBook.from_state(self.state["positions"], self.state["realized_pnl"],
                                            self.state["fees"])
        if writer and lines > COMPACT_LINES:
            assert self.path is not None
            write_atomic(self.path, self._line(self.state["orders"].values()))
        self._bars: dict[str, deque[_Bar]] = {}
        self._spacing: dict[str, timedelta] = {}
        self._ids = {o["id"]: o for o in self.state["orders"].values()}
        # Orders (or legs) still working, per symbol: what a bar of that symbol may fill.
        self._working: dict[str, list[dict[str, Any]]] = {}
        for o in self.state["orders"].values():
            if o["status"] in WORKING or any(leg["status"] in WORKING
                                              for leg in o.get("legs", ())):
                self._working.setdefault(o["symbol"], []).append(o)

    def _line(self, orders: Any) -> bytes:
        """One journal line: the account now and `orders` as they are now."""
        self.state["positions"] = self.book.holdings_dict()
        self.state["realized_pnl"], self.state["fees"] = self.book.realized_pnl, self.book.fees
        line = {k: self.state[k] for k in ACCOUNT_KEYS}
        line["orders"] = {o["client_order_id"]: o for o in orders}
        return json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n"

    def _save(self, *changed: dict[str, Any]) -> None:
        """Append the account and the `changed` orders to the journal, durably."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:
            f.write(self._line(changed))
            f.flush()
            os.fsync(f.fileno())

    # --- reading ----------------------------------------------------------------------------
    def account(self) -> Account:
        with self._lock:
            positions = {sym: Position(sym, h.qty, h.qty * h.last_price, h.avg_price)
                         for sym, h in self.book.holdings.items()}
            return Account(equity=self.state["cash"] + self.book.market_value,
                           cash=self.state["cash"], positions=positions)

    def summary(self) -> dict[str, float]:
        """Cash, equity, realised and unrealised P&L: what `tradeflow consume status` prints."""
        acct = self.account()
        return {"cash": acct.cash, "equity": acct.equity, "realized_pnl": self.book.realized_pnl,
                "unrealized_pnl": self.book.unrealized_pnl, "fees": self.book.fees,
                "open_positions": len(acct.positions)}

    def market_open(self, now: datetime) -> bool:
        return calendar.is_open(now)

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        with self._lock:
            o = self.state["orders"].get(client_order_id)
            return None if o is None else self._view(o)

    def _by_id(self, broker_order_id: str) -> dict[str, Any]:
        o = self._ids.get(broker_order_id)
        if o is None:
            raise BrokerRejected(f"no paper order {broker_order_id}", 404)
        return o

    def status(self, broker_order_id: str) -> BrokerOrder:
        with self._lock:
            return self._view(self._by_id(broker_order_id))

    @staticmethod
    def _view(o: dict[str, Any]) -> BrokerOrder:
        legs = tuple(ExitLeg(leg["reason"], leg["id"], OrderStatus(leg["status"]),
                             leg["filled_qty"], leg["filled_avg_price"], _time(leg["filled_at"]),
                             _time(leg["fill_bar_time"]), leg["fee"]) for leg in o.get("legs", ()))
        return BrokerOrder(o["id"], OrderStatus(o["status"]), o["filled_qty"],
                           o["filled_avg_price"], o.get("detail", ""), o,
                           _time(o.get("filled_at")), legs, _time(o.get("fill_bar_time")))

    # --- the market -------------------------------------------------------------------------
    def observe_price(self, symbol: str, price: float, at: datetime) -> None:
        with self._lock:
            self.book.mark(symbol, price)

    def on_bar(self, bar: MarketBar) -> bool:
        symbol = bar.symbol
        with self._lock:
            hist = self._bars.get(symbol)
            if hist is None:
                hist = self._bars[symbol] = deque(maxlen=HISTORY_BARS)
                spacing = DEFAULT_SPACING
            elif bar.event_time <= hist[-1].end:
                return False  # a repeat or a late bar: the market does not go back
            else:
                gap = bar.event_time - hist[-1].end
                spacing = self._spacing[symbol] = min(self._spacing.get(symbol, gap), gap)
            b = _Bar(calendar.bar_start(bar.event_time, spacing), bar)
            hist.append(b)
            working = self._working.get(symbol)
            traded = [o for o in list(working) if self._trade(o, b)] if working else []
            self.book.mark(symbol, bar.close)
            if traded:
                self._save(*traded)
            return bool(traded)

    def _trade(self, o: dict[str, Any], b: _Bar) -> bool:
        """Let bar `b` work on order `o`: fill the entry, then its legs. True if anything filled."""
        changed = False
        if o["status"] in WORKING:
            if b.end <= _time(o["not_before"]):  # type: ignore[operator]
                return False
            signed = o["qty"] if o["side"] == OrderSide.buy.value else -o["qty"]
            price = b.open * (1 + self.slippage if signed > 0 else 1 - self.slippage)
            o.update(self._fill(o["symbol"], signed, price, b.open, b.start, b.end),
                     status=OrderStatus.filled.value, filled_qty=o["qty"])
            for leg in o.get("legs", ()):
                leg["status"] = OrderStatus.accepted.value
            changed = True
        legs = {leg["reason"]: leg for leg in o.get("legs", ()) if leg["status"] in WORKING}
        if legs:
            long = o["side"] == OrderSide.buy.value
            stop, target = legs.get(STOP_LOSS), legs.get(TAKE_PROFIT)
            hit = trigger(long, stop["level"] if stop else None, target["level"] if target else None,
                          b.open, b.high, b.low)
            if hit is not None:
                signed = -o["qty"] if long else o["qty"]
                price = hit.price
                if hit.reason == STOP_LOSS:  # a stop becomes a market order
                    price *= 1 + self.slippage if signed > 0 else 1 - self.slippage
                leg = legs[hit.reason]
                leg.update(self._fill(o["symbol"], signed, price, hit.price,
                                      b.start if hit.at_open else b.end, b.end),
                           status=OrderStatus.filled.value, filled_qty=o["qty"])
                for other in legs.values():
                    if other is not leg:
                        other["status"] = OrderStatus.canceled.value
                changed = True
        if o["status"] not in WORKING and not any(
                leg["status"] in WORKING for leg in o.get("legs", ())):
            self._working[o["symbol"]].remove(o)
        return changed

    def _fill(self, symbol: str, signed: float, price: float, mark: float, at: datetime,
              bar_end: datetime) -> dict[str, Any]:
        fee = self.fee_per_order + abs(signed * price) * self.fee_bps
        self.state["cash"] -= signed * price + fee
        self.book.fill(symbol, signed, price, fee, mark=mark)
        return {"filled_avg_price": round(price, 6), "fee": round(fee, 6),
                "filled_at": to_wire_time(at), "fill_bar_time": to_wire_time(bar_end)}

    # --- orders -----------------------------------------------------------------------------
    def submit(self, req: OrderRequest, maybe_sent: bool = False,
               halted: Halted | None = None) -> BrokerOrder:
        with self._lock:
            known = self.state["orders"].get(req.client_order_id)
            if known is not None:
                return self._view(known)
            reason = halted() if halted is not None else None
            if reason is not None:
                raise OrderHalted(f"kill switch engaged: {reason}")
            order: dict[str, Any] = {
                "id": str(uuid.uuid4()), "client_order_id": req.client_order_id,
                "symbol": req.symbol, "side": req.side.value, "qty": req.qty,
                "status": OrderStatus.accepted.value, "filled_qty": 0.0,
                "filled_avg_price": None, "fee": 0.0, "filled_at": None, "fill_bar_time": None,
                "not_before": to_wire_time(req.not_before) if req.not_before else None,
                "detail": f"simulated: fills at the next bar's open, slippage "
                          f"{self.slippage * 1e4:g} bps"}
            if req.order_type == "bracket":
                order["legs"] = [
                    {"reason": reason, "id": str(uuid.uuid4()), "level": level,
                     "status": OrderStatus.new.value, "filled_qty": 0.0,
                     "filled_avg_price": None, "fee": 0.0, "filled_at": None,
                     "fill_bar_time": None}
                    for reason, level in ((STOP_LOSS, req.stop_loss),
                                          (TAKE_PROFIT, req.take_profit))]
            if order["not_before"] is None:  # no bar to wait for: the next one fills it
                hist = self._bars.get(req.symbol)
                order["not_before"] = to_wire_time(hist[-1].end) if hist else \
                    "0001-01-01T00:00:00Z"
            self.state["orders"][req.client_order_id] = order
            self._ids[order["id"]] = order
            self._working.setdefault(req.symbol, []).append(order)
            # Bars already seen after its decision bar (the bars ran ahead of the signal): it
            # trades against them now, oldest first.
            not_before = _time(order["not_before"])
            later: list[_Bar] = []
            for b in reversed(self._bars.get(req.symbol, ())):
                if b.end <= not_before:  # type: ignore[operator]
                    break
                later.append(b)
            for b in reversed(later):
                if order not in self._working.get(req.symbol, ()):
                    break
                self._trade(order, b)
            self._save(order)  # the order and any fill in one line: never one without the other
            return self._view(order)

    def cancel_legs(self, broker_order_id: str) -> None:
        with self._lock:
            o = self._by_id(broker_order_id)
            for leg in o.get("legs", ()):
                if leg["status"] in WORKING or leg["status"] == OrderStatus.new.value:
                    leg["status"] = OrderStatus.canceled.value
            if o in self._working.get(o["symbol"], ()) and o["status"] not in WORKING:
                self._working[o["symbol"]].remove(o)
            self._save(o)
