"""Orders on an Alpaca (paper) account, over a small `requests` client of the trading API.

The client (`AlpacaTradingClient`) sends one request and never retries: the retries are ours
(tenacity), because resending a POST after a 504 without asking whether the first one went
through could place an order twice. The rules:

* reads (account, positions, clock, order status) are retried on timeouts, connection errors,
  5xx and 429 (honouring `Retry-After`);
* an order POST that timed out, lost its connection after sending, or got a 5xx has an unknown
  outcome: before any new attempt the order is looked up by client_order_id, and only a 404
  there allows sending it again;
* 429 on the POST means it was not processed, and a connection refused means it never left:
  those are resent directly (a duplicate would still be caught by the client_order_id);
* 422 (Alpaca's answer to a client_order_id it already has) is "already submitted": the existing
  order is fetched and returned; any other 4xx is a rejection and is not retried;
* a malformed answer (not JSON, no order id, numbers that are not numbers) is the broker's
  failure like a 5xx, never a KeyError: to an order POST, its outcome is unknown (looked up
  before any resend); to a read, `BrokerUnavailable`. Nothing malformed reaches the store, whose
  records are read again at every start;
* the kill switch (`halted`) is asked before every POST of an order, retries included: one
  engaged while a retry waits (a 429's Retry-After can be a minute) stops it there;
* cancelling a bracket's exit legs (DELETE, idempotent) is retried like a read; a 404 or 422
  there means the leg is gone or already final, which is what cancelling wanted.

Every request has a timeout (`requests` has none by default) and follows no redirect (the key
headers would go wherever it points).

Bracket orders: market entry, `gtc` (the legs must outlive the day the entry fills on), prices in
whole cents (4 decimals below $1), whole shares only (Alpaca refuses fractional brackets). Reads
ask for `nested=true`, so the exit legs come back under `legs`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from typing import Any, TypeVar

import requests
import urllib3
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from tradeflow.alpaca_data import AlpacaAuth, retry_after_seconds
from tradeflow.contracts import OrderStatus
from tradeflow.logs import mask, register_secrets

from .base import (Account, BrokerOrder, BrokerRejected, BrokerUnavailable, Executor, ExitLeg,
                   Halted, OrderHalted, OrderRequest, Position)

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
# A bracket's exit legs by their order type.
LEG_REASON = {"limit": "take_profit", "stop": "stop_loss", "stop_limit": "stop_loss"}
MAX_WAIT = 60.0
# What parsing an answer of the wrong shape raises (json's and ours are ValueErrors).
MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)


class _Transient(Exception):
    """A failure worth another attempt."""

    def __init__(self, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class AlpacaHTTPError(Exception):
    """A non-2xx answer. The message is the server's own (masked: it may quote the request)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class AlpacaTradingClient:
    """One request to Alpaca's trading API (`{base_url}/v2`), JSON in and out; no retries.

    Raises `AlpacaHTTPError` for a non-2xx status, `requests.RequestException` for the transport,
    ValueError for a body that is not JSON; returns None for an empty body (DELETE's 204)."""

    def __init__(self, key_id: str, secret_key: str, base_url: str, timeout: float) -> None:
        self.base = base_url.rstrip("/") + "/v2"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = AlpacaAuth(SecretStr(key_id), SecretStr(secret_key))

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                body: dict[str, Any] | None = None) -> Any:
        resp = self.session.request(method, self.base + path, params=params, json=body,
                                    timeout=self.timeout, allow_redirects=False)
        if not 200 <= resp.status_code < 300:
            raise AlpacaHTTPError(resp.status_code, _server_message(resp),
                                  retry_after_seconds(resp.headers.get("Retry-After")))
        # json.loads, not resp.json(): its error is a RequestException, which reads as transport.
        return json.loads(resp.content) if resp.content else None

    def close(self) -> None:
        self.session.close()


def _server_message(resp: requests.Response) -> str:
    try:
        body = json.loads(resp.content)
    except ValueError:
        body = None
    text = body.get("message") if isinstance(body, dict) else None
    return mask(str(text or resp.text)).strip() or resp.reason or "no detail"


def _status_of(exc: BaseException) -> int | None:
    return exc.status if isinstance(exc, AlpacaHTTPError) else None


def _retry_after(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, AlpacaHTTPError) else None


def _never_sent(exc: BaseException) -> bool:
    """A connection that could not even be opened: the request never reached Alpaca."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _message(exc: BaseException) -> str:
    # Masked before it is cut: a cut would leave part of an echoed secret that no mask knows.
    status = _status_of(exc)
    text = mask(str(exc)).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if isinstance(exc, requests.Timeout):
        text = "timed out"
    elif isinstance(exc, requests.ConnectionError):
        text = "connection failed" + (" (refused)" if _never_sent(exc) else "")
    return f"HTTP {status}: {text}" if status else text


def _number(value: Any, what: str) -> float:
    """A finite number, as Alpaca sends them (strings mostly); ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{what} is {value!r:.80}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{what} is {value!r:.80}")
    return x


def _time(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is {value!r:.80}")
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"{what} has no time zone: {value!r:.80}")
    return t.astimezone(timezone.utc)


def _fills(o: Any, what: str) -> tuple[str, OrderStatus, float, float | None, datetime | None]:
    """id, status, filled_qty, filled_avg_price, filled_at of an order or a leg."""
    if not isinstance(o, dict) or not isinstance(o.get("id"), str) or not o["id"]:
        raise ValueError(f"not {what} (no id): {mask(str(o))[:200]}")
    raw_status = o.get("status", "")
    if not isinstance(raw_status, str):
        raise ValueError(f"status is {raw_status!r:.80}")
    price = o.get("filled_avg_price")
    filled = _number(o.get("filled_qty") or 0, "filled_qty")
    avg = _number(price, "filled_avg_price") if price not in (None, "") else None
    if filled < 0 or (avg is not None and avg <= 0):
        raise ValueError(f"filled_qty {filled:g} at {avg}")
    return (o["id"], STATUS.get(raw_status, OrderStatus.accepted), filled, avg,
            _time(o.get("filled_at"), "filled_at"))


def _leg(o: Any) -> ExitLeg:
    oid, status, filled, avg, at = _fills(o, "an order leg")
    kind = o.get("type")
    if kind not in LEG_REASON:
        raise ValueError(f"order leg of type {kind!r:.80}")
    return ExitLeg(LEG_REASON[kind], oid, status, filled_qty=filled, filled_avg_price=avg,
                   filled_at=at)


def to_broker_order(o: Any) -> BrokerOrder:
    """Raises ValueError for an answer that is not an order (one of MALFORMED, see above)."""
    oid, status, filled, avg, at = _fills(o, "an order")
    legs = o.get("legs") or []
    if not isinstance(legs, list):
        raise ValueError(f"legs is {legs!r:.80}")
    return BrokerOrder(broker_order_id=oid, status=status, filled_qty=filled,
                       filled_avg_price=avg, detail=f"alpaca status {o.get('status')}", raw=o,
                       filled_at=at, legs=tuple(_leg(x) for x in legs))


def _price(x: float | None, what: str) -> str:
    """A bracket price as Alpaca takes it: whole cents, or 4 decimals below $1."""
    if x is None or not math.isfinite(x) or x <= 0:
        raise BrokerRejected(f"bracket order: {what} is {x!r}")  # nothing was sent
    return f"{x:.2f}" if x >= 1 else f"{x:.4f}"


def _malformed(what: str, exc: BaseException) -> str:
    return f"{what}: malformed answer ({type(exc).__name__}: {mask(str(exc))[:200]})"


class AlpacaExecutor(Executor):
    name = "alpaca"
    fractional_brackets = False

    def __init__(self, key_id: str, secret_key: str, base_url: str, *, timeout: float = 10.0,
                 attempts: int = 4, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        register_secrets(key_id, secret_key)  # masked wherever a message of ours goes
        self.api = AlpacaTradingClient(key_id, secret_key, base_url, timeout)
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
        """A read (`call` includes parsing the answer): safe to repeat on any transient failure,
        a malformed answer included."""
        def once() -> T:
            try:
                return call()
            except (requests.RequestException, AlpacaHTTPError) as exc:
                status = _status_of(exc)
                if status is None or status >= 500 or status == 429:
                    raise _Transient(f"{what}: {_message(exc)}", status, _retry_after(exc)) from exc
                raise BrokerRejected(f"{what}: {_message(exc)}", status) from exc
            except MALFORMED as exc:
                raise _Transient(_malformed(what, exc)) from exc

        try:
            return self._retrying()(once)
        except _Transient as exc:
            raise BrokerUnavailable(str(exc), exc.status) from exc

    # --- reading ----------------------------------------------------------------------------
    def account(self) -> Account:
        def account() -> tuple[float, float, float | None]:
            acct = self.api.request("GET", "/account")
            last = acct.get("last_equity")
            return (_number(acct["equity"], "equity"), _number(acct.get("cash") or 0, "cash"),
                    _number(last, "last_equity") if last not in (None, "") else None)

        def positions() -> dict[str, Position]:
            out = {}
            for p in self.api.request("GET", "/positions") or []:
                qty = _number(p["qty"], "qty")
                if p.get("side") == "short" and qty > 0:
                    qty = -qty
                if not isinstance(p["symbol"], str):
                    raise ValueError(f"symbol is {p['symbol']!r:.80}")
                out[p["symbol"]] = Position(p["symbol"], qty,
                                            _number(p.get("market_value") or 0, "market_value"),
                                            _number(p.get("avg_entry_price") or 0,
                                                    "avg_entry_price"))
            return out

        equity, cash, last = self._read("GET /v2/account", account)
        held = self._read("GET /v2/positions", positions)
        return Account(equity=equity, cash=cash, positions=held, day_start_equity=last)

    def market_open(self, now: datetime) -> bool:
        # The broker's clock, i.e. the real wall clock and Alpaca's holiday calendar: `now` (which
        # could be a simulated time) is deliberately ignored.
        def is_open() -> bool:
            value = self.api.request("GET", "/clock")["is_open"]
            if not isinstance(value, bool):  # bool("false") would be an open market
                raise ValueError(f"is_open is {value!r:.80}")
            return value

        return self._read("GET /v2/clock", is_open)

    def _lookup_once(self, client_order_id: str) -> BrokerOrder | None:
        try:
            o = self.api.request("GET", "/orders:by_client_order_id",
                                 {"client_order_id": client_order_id, "nested": "true"})
        except (requests.RequestException, AlpacaHTTPError) as exc:
            status = _status_of(exc)
            if status == 404:
                return None
            if status is None or status >= 500 or status == 429:
                raise _Transient(f"order lookup: {_message(exc)}", status,
                                 _retry_after(exc)) from exc
            raise BrokerRejected(f"order lookup: {_message(exc)}", status) from exc
        try:
            return to_broker_order(o)
        except MALFORMED as exc:
            raise _Transient(_malformed("order lookup", exc)) from exc

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        try:
            return self._retrying()(self._lookup_once, client_order_id)
        except _Transient as exc:
            raise BrokerUnavailable(str(exc), exc.status, may_exist=True) from exc

    def status(self, broker_order_id: str) -> BrokerOrder:
        return self._read("GET /v2/orders/{id}", lambda: to_broker_order(
            self.api.request("GET", f"/orders/{broker_order_id}", {"nested": "true"})))

    def cancel_legs(self, broker_order_id: str) -> None:
        def cancel(leg_id: str) -> None:
            try:
                self.api.request("DELETE", f"/orders/{leg_id}")
            except AlpacaHTTPError as exc:
                # 422: already filled or canceled; 404: gone. Either way it no longer works.
                if exc.status not in (404, 422):
                    raise

        for leg in self.status(broker_order_id).legs:
            if not leg.status.final:
                self._read("DELETE /v2/orders/{id}", partial(cancel, leg.broker_order_id))

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
                          take_profit={"limit_price": _price(req.take_profit, "take_profit")},
                          stop_loss={"stop_price": _price(req.stop_loss, "stop_loss")})
        return params

    def submit(self, req: OrderRequest, maybe_sent: bool = False,
               halted: Halted | None = None) -> BrokerOrder:
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
            # Here, not once before the loop: a retry may come long after the first attempt.
            reason = halted() if halted is not None else None
            if reason is not None:
                raise OrderHalted(f"kill switch engaged: {reason}")
            try:
                answer = self.api.request("POST", "/orders", body=params)
            except (requests.RequestException, AlpacaHTTPError) as exc:
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
                return to_broker_order(answer)
            except MALFORMED as exc:
                unknown = True  # something took the POST: look the order up before any resend
                raise _Transient(_malformed("POST /v2/orders", exc)) from exc

        try:
            return self._retrying()(attempt)
        except _Transient as exc:
            raise BrokerUnavailable(str(exc), exc.status, may_exist=unknown) from exc

    def close(self) -> None:
        self.api.close()
