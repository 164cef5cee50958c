"""The built-in paper broker: a small simulated account for running without Alpaca keys.

Market orders fill at once at the signal's price made worse by `slippage_bps` (buyers pay more,
sellers get less), less fees. It keeps cash, signed positions (negative = short) with their
average price, realised P&L (gross of fees) and the last price seen per symbol (for unrealised
P&L), in one JSON file under the data dir written atomically after every change, so a restart
keeps them. Orders are remembered by client_order_id: submitting one twice returns the first.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tradeflow.contracts import OrderSide, OrderStatus, to_wire_time
from tradeflow.topics.positions import write_atomic

from .. import calendar
from .base import (Account, BrokerOrder, BrokerRejected, Executor, Halted, OrderHalted,
                   OrderRequest, Position)


def _fresh(cash: float) -> dict[str, Any]:
    return {"cash": cash, "starting_cash": cash, "realized_pnl": 0.0, "fees": 0.0,
            "positions": {}, "orders": {}}


class PaperBroker(Executor):
    name = "paper"

    def __init__(self, path: Path | None, cash: float = 100_000.0, slippage_bps: float = 0.0,
                 fee_bps: float = 0.0, fee_per_order: float = 0.0) -> None:
        # path None: the account lives in memory only (the backtest replays thousands of fills
        # and marks, and an fsync'd file per change would dominate its run time).
        self.path = Path(path) if path is not None else None
        self.slippage = slippage_bps / 10_000
        self.fee_bps = fee_bps / 10_000
        self.fee_per_order = fee_per_order
        self._lock = threading.Lock()
        try:
            if self.path is None:
                raise FileNotFoundError
            self.state: dict[str, Any] = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            self.state = _fresh(cash)

    def _save(self) -> None:
        if self.path is None:
            return
        write_atomic(self.path, json.dumps(self.state, sort_keys=True, indent=1).encode())

    # --- reading ----------------------------------------------------------------------------
    def account(self) -> Account:
        with self._lock:
            positions = {
                sym: Position(sym, p["qty"], p["qty"] * p["last_price"], p["avg_price"])
                for sym, p in self.state["positions"].items()}
            equity = self.state["cash"] + sum(p.market_value for p in positions.values())
            return Account(equity=equity, cash=self.state["cash"], positions=positions)

    def summary(self) -> dict[str, float]:
        """Cash, equity, realised and unrealised P&L: what `tradeflow consume status` prints."""
        acct = self.account()
        unrealised = sum(p["qty"] * (p["last_price"] - p["avg_price"])
                         for p in self.state["positions"].values())
        return {"cash": acct.cash, "equity": acct.equity,
                "realized_pnl": self.state["realized_pnl"], "unrealized_pnl": unrealised,
                "fees": self.state["fees"], "open_positions": len(acct.positions)}

    def market_open(self, now: datetime) -> bool:
        return calendar.is_open(now)

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        with self._lock:
            o = self.state["orders"].get(client_order_id)
        return None if o is None else self._view(o)

    def status(self, broker_order_id: str) -> BrokerOrder:
        with self._lock:
            for o in self.state["orders"].values():
                if o["id"] == broker_order_id:
                    return self._view(o)
        raise BrokerRejected(f"no paper order {broker_order_id}", 404)

    @staticmethod
    def _view(o: dict[str, Any]) -> BrokerOrder:
        return BrokerOrder(o["id"], OrderStatus(o["status"]), o["filled_qty"],
                           o["filled_avg_price"], o.get("detail", ""), o)

    # --- trading ----------------------------------------------------------------------------
    def observe_price(self, symbol: str, price: float, at: datetime) -> None:
        with self._lock:
            p = self.state["positions"].get(symbol)
            if p is not None and p["last_price"] != price:
                p["last_price"] = price
                self._save()

    def submit(self, req: OrderRequest, maybe_sent: bool = False,
               halted: Halted | None = None) -> BrokerOrder:
        with self._lock:
            known = self.state["orders"].get(req.client_order_id)
            if known is not None:
                return self._view(known)
            reason = halted() if halted is not None else None
            if reason is not None:
                raise OrderHalted(f"kill switch engaged: {reason}")
            signed = req.qty if req.side is OrderSide.buy else -req.qty
            price = req.price * (1 + self.slippage if signed > 0 else 1 - self.slippage)
            fee = self.fee_per_order + abs(signed * price) * self.fee_bps
            self._fill(req.symbol, signed, price, fee, mark=req.price)
            order = {"id": str(uuid.uuid4()), "client_order_id": req.client_order_id,
                     "symbol": req.symbol, "side": req.side.value, "qty": req.qty,
                     "status": OrderStatus.filled.value, "filled_qty": req.qty,
                     "filled_avg_price": round(price, 6), "fee": round(fee, 6),
                     "filled_at": to_wire_time(datetime.now(timezone.utc)),
                     "detail": f"simulated fill, slippage {self.slippage * 1e4:g} bps, fee {fee:.2f}"}
            self.state["orders"][req.client_order_id] = order
            self._save()  # the fill and the order are one atomic write: never one without the other
            return self._view(order)

    def _fill(self, symbol: str, signed: float, price: float, fee: float, mark: float) -> None:
        s = self.state
        s["cash"] -= signed * price + fee
        s["fees"] += fee
        p = s["positions"].get(symbol) or {"qty": 0.0, "avg_price": price, "last_price": price}
        old = p["qty"]
        if old == 0 or (old > 0) == (signed > 0):  # opening or adding
            p["avg_price"] = (old * p["avg_price"] + signed * price) / (old + signed)
        else:  # reducing, closing or flipping
            closed = min(abs(signed), abs(old))
            s["realized_pnl"] += closed * (price - p["avg_price"]) * (1 if old > 0 else -1)
            if abs(signed) > abs(old):
                p["avg_price"] = price
        p["qty"] = old + signed
        p["last_price"] = mark  # marked at the market price, so slippage shows in unrealised P&L
        if abs(p["qty"]) < 1e-9:
            s["positions"].pop(symbol, None)
        else:
            s["positions"][symbol] = p
