"""Orders on an Alpaca (paper) account through `alpaca_trade_api.REST`.

Retries are ours (tenacity), not the library's: its built-in loop would resend a POST after a
504 without asking whether the first one went through. The rules:

* reads (account, positions, clock, order status) are retried on timeouts, connection errors,
  5xx and 429 (honouring `Retry-After`);
* an order POST that timed out, lost its connection after sending, or got a 5xx has an unknown
  outcome: before any new attempt the order is looked up by client_order_id, and only a 404
  there allows sending it again;
* 429 on the POST means it was not processed, and a connection refused means it never left:
  those are resent directly (a duplicate would still be caught by the client_order_id);
* 422 (Alpaca's answer to a client_order_id it already has) is "already submitted": the existing
  order is fetched and returned; any other 4xx is a rejection and is not retried.

Every request has a timeout (`requests` has none by default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import requests
import urllib3
from alpaca_trade_api.rest import REST, APIError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from tradeflow.contracts import OrderStatus

from .base import (Account, BrokerOrder, BrokerRejected, BrokerUnavailable, Executor, OrderRequest,
                   Position)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Alpaca order statuses -> the contract's. `new` in the contract is "decided by the consumer, not
# yet confirmed by the broker", so everything the broker holds and works on is `accepted`.
STATUS = {
    "new": OrderStatus.accepted, "accepted": OrderStatus.accepted,
    "pending_new": OrderStatus.accepted, "accepted_for_bidding": OrderStatus.accepted,
    "held": OrderStatus.accepted, "calculated": OrderStatus.accepted,
    "pending_cancel": OrderStatus.accepted, "pending_replace": OrderStatus.accepted,
    "done_for_day": OrderStatus.accepted, "stopped": OrderStatus.accepted,
    "suspended": OrderStatus.accepted,
    "partially_filled": OrderStatus.partially_filled, "filled": OrderStatus.filled,
    "canceled": OrderStatus.canceled, "replaced": OrderStatus.canceled,
    "expired": OrderStatus.expired, "rejected": OrderStatus.rejected,
}
MAX_WAIT = 60.0


class _Transient(Exception):
    """A failure worth another attempt."""

    def __init__(self, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, **kw: Any) -> requests.Response:  # type: ignore[override]
        kw.setdefault("timeout", self.timeout)
        return super().request(method, url, **kw)


def _status_of(exc: BaseException) -> int | None:
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


def _retry_after(exc: BaseException) -> float | None:
    resp = getattr(exc, "response", None)
    value = resp.headers.get("Retry-After") if resp is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _never_sent(exc: BaseException) -> bool:
    """A connection that could not even be opened: the request never reached Alpaca."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _message(exc: BaseException) -> str:
    status = _status_of(exc)
    text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if isinstance(exc, requests.Timeout):
        text = "timed out"
    elif isinstance(exc, requests.ConnectionError):
        text = "connection failed" + (" (refused)" if _never_sent(exc) else "")
    return f"HTTP {status}: {text}" if status else text


def to_broker_order(o: dict[str, Any]) -> BrokerOrder:
    raw_status = str(o.get("status", ""))
    price = o.get("filled_avg_price")
    return BrokerOrder(
        broker_order_id=str(o["id"]),
        status=STATUS.get(raw_status, OrderStatus.accepted),
        filled_qty=float(o.get("filled_qty") or 0),
        filled_avg_price=float(price) if price not in (None, "") else None,
        detail=f"alpaca status {raw_status}",
        raw=o)


class AlpacaExecutor(Executor):
    name = "alpaca"

    def __init__(self, key_id: str, secret_key: str, base_url: str, *, timeout: float = 10.0,
                 attempts: int = 4, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rest = REST(key_id, secret_key, base_url.rstrip("/"), api_version="v2", raw_data=True)
        self.rest._session = _TimeoutSession(timeout)
        self.rest._retry = 0  # see the module docstring: the library must not resend anything
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep

    # --- retry machinery --------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        base = min(30.0, self.backoff * 2 ** (state.attempt_number - 1))
        hinted = getattr(exc, "retry_after", None) or 0.0
        return min(MAX_WAIT, max(base, hinted))

    def _retrying(self) -> Retrying:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("alpaca: %s; attempt %d of %d, retrying in %.2fs", exc,
                        state.attempt_number, self.attempts,
                        state.next_action.sleep if state.next_action else 0)

        return Retrying(stop=stop_after_attempt(self.attempts), wait=self._wait,
                        retry=retry_if_exception_type(_Transient), sleep=self.sleep,
                        before_sleep=before_sleep, reraise=True)

    def _read(self, what: str, call: Callable[[], T]) -> T:
        """A read: safe to repeat on any transient failure."""
        def once() -> T:
            try:
                return call()
            except (requests.RequestException, APIError) as exc:
                status = _status_of(exc)
                if status is None or status >= 500 or status == 429:
                    raise _Transient(f"{what}: {_message(exc)}", status, _retry_after(exc)) from exc
                raise BrokerRejected(f"{what}: {_message(exc)}", status) from exc

        try:
            return self._retrying()(once)
        except _Transient as exc:
            raise BrokerUnavailable(str(exc), exc.status) from exc

    # --- reading ----------------------------------------------------------------------------
    def account(self) -> Account:
        acct = self._read("GET /v2/account", lambda: self.rest.get("/account"))
        rows = self._read("GET /v2/positions", lambda: self.rest.get("/positions"))
        positions = {}
        for p in rows or []:
            qty = float(p["qty"])
            if p.get("side") == "short" and qty > 0:
                qty = -qty
            positions[p["symbol"]] = Position(p["symbol"], qty, float(p.get("market_value") or 0),
                                              float(p.get("avg_entry_price") or 0))
        last = acct.get("last_equity")
        return Account(equity=float(acct["equity"]), cash=float(acct.get("cash") or 0),
                       positions=positions,
                       day_start_equity=float(last) if last not in (None, "") else None)

    def market_open(self, now: datetime) -> bool:
        # The broker's clock, i.e. the real wall clock and Alpaca's holiday calendar: `now` (which
        # could be a simulated time) is deliberately ignored.
        clock = self._read("GET /v2/clock", lambda: self.rest.get("/clock"))
        return bool(clock.get("is_open"))

    def _lookup_once(self, client_order_id: str) -> BrokerOrder | None:
        try:
            o = self.rest.get("/orders:by_client_order_id", {"client_order_id": client_order_id})
        except (requests.RequestException, APIError) as exc:
            status = _status_of(exc)
            if status == 404:
                return None
            if status is None or status >= 500 or status == 429:
                raise _Transient(f"order lookup: {_message(exc)}", status,
                                 _retry_after(exc)) from exc
            raise BrokerRejected(f"order lookup: {_message(exc)}", status) from exc
        return to_broker_order(o)

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        try:
            return self._retrying()(self._lookup_once, client_order_id)
        except _Transient as exc:
            raise BrokerUnavailable(str(exc), exc.status, may_exist=True) from exc

    def status(self, broker_order_id: str) -> BrokerOrder:
        o = self._read("GET /v2/orders/{id}", lambda: self.rest.get(f"/orders/{broker_order_id}"))
        return to_broker_order(o)

    # --- placing ----------------------------------------------------------------------------
    @staticmethod
    def _params(req: OrderRequest) -> dict[str, Any]:
        qty = int(req.qty) if float(req.qty).is_integer() else req.qty
        params: dict[str, Any] = {"symbol": req.symbol, "qty": str(qty), "side": req.side.value,
                                  "type": "market", "time_in_force": "day",
                                  "client_order_id": req.client_order_id}
        if req.order_type == "bracket":
            # The legs must outlive the day the entry fills on.
            params.update(order_class="bracket", time_in_force="gtc",
                          take_profit={"limit_price": str(round(req.take_profit or 0, 2))},
                          stop_loss={"stop_price": str(round(req.stop_loss or 0, 2))})
        return params

    def submit(self, req: OrderRequest, maybe_sent: bool = False) -> BrokerOrder:
        unknown = maybe_sent
        params = self._params(req)

        def attempt() -> BrokerOrder:
            nonlocal unknown
            if unknown:
                found = self._lookup_once(req.client_order_id)
                if found is not None:
                    log.info("alpaca: order %s already exists (%s); not sending it again",
                             req.client_order_id, found.status.value)
                    return found
                unknown = False  # confirmed absent: sending is safe
            try:
                return to_broker_order(self.rest.post("/orders", params))
            except (requests.RequestException, APIError) as exc:
                status = _status_of(exc)
                msg = f"POST /v2/orders: {_message(exc)}"
                if status == 429:
                    raise _Transient(msg, status, _retry_after(exc)) from exc
                if status is None:
                    unknown = not _never_sent(exc)
                    raise _Transient(msg) from exc
                if status >= 500:
                    unknown = True
                    raise _Transient(msg, status, _retry_after(exc)) from exc
                if status == 422:
                    found = self._lookup_once(req.client_order_id)
                    if found is not None:
                        log.info("alpaca: duplicate client_order_id %s: already submitted",
                                 req.client_order_id)
                        return found
                raise BrokerRejected(msg, status) from exc

        try:
            return self._retrying()(attempt)
        except _Transient as exc:
            raise BrokerUnavailable(str(exc), exc.status, may_exist=unknown) from exc

    def close(self) -> None:
        self.rest._session.close()
