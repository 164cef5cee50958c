"""A stand-in for Alpaca's trading API (paper account) on 127.0.0.1, for tests.

Speaks `/v2/account`, `/v2/positions`, `/v2/clock`, `/v2/orders` (POST; 422 for a client_order_id
it already has), `/v2/orders/{id}` (GET, and DELETE: cancels a working order, 204, or 422 if it is
already final) and `/v2/orders:by_client_order_id`. Checks the key headers (401 when wrong). An
order is `accepted` when posted and `filled` (at `prices[symbol]`, updating cash and positions,
with `filled_at`) on the `fill_after`-th status poll of the order (0 = filled at once).

A bracket POST (whole shares, prices in cents) also makes its two exit legs, `held` like Alpaca's
until the entry fills, then the take-profit (a limit order) `new` and the stop-loss (a stop order)
`held`; they come back under `legs` when a read asks with `nested=true` (and in the POST's
answer). `fill_leg(parent_id, "stop_loss", price)` fills one leg, cancels its sibling and
flattens the position. Faults can be queued
per method and path: an HTTP status (with Retry-After) and any JSON body (a malformed answer:
`fail("POST", "/v2/orders", 200, body={"status": "accepted"})`), a delay that outlasts the
client's timeout, optionally after doing the work anyway (the order exists though the client saw
nothing); a dropped connection (no answer at all); `down()` stops listening (connection refused)
until `up()`. Every request is recorded, with the answer it got. With `echo_credentials` set, every
error answer and every injected body repeats the request's credentials (as some proxies and error
pages do), for tests that secrets never leak from error paths.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int = 0
    response: Any = None  # the JSON answer sent


@dataclass
class Fault:
    method: str  # "GET", "POST" or "*"
    path: str  # prefix of the request path
    status: int | None = None  # answer this instead of the real response
    retry_after: str | None = None
    delay: float = 0.0  # wait this long before answering
    process: bool = False  # do the real work first (then delay / fail the answer)
    times: int = 1
    body: Any = None  # any JSON: the answer instead of the real (or a generic error) one
    drop: bool = False  # close the connection without any answer (after `process`/`delay`)

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and path.startswith(self.path)


class HTTPStub:
    """A threaded local HTTP server with fault injection and a request log."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self.echo_credentials = False

    # --- control ----------------------------------------------------------------------------
    def fail(self, method: str, path: str, status: int | None = None, *, times: int = 1,
             retry_after: str | None = None, delay: float = 0.0, process: bool = False,
             body: Any = None, drop: bool = False) -> None:
        with self._lock:
            self._faults.append(Fault(method, path, status, retry_after, delay, process, times,
                                      body, drop))

    def calls(self, method: str | None = None, prefix: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and r.path.startswith(prefix)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def up(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request per connection
            def do_GET(self) -> None:  # noqa: N802
                stub._serve(self)

            def do_POST(self) -> None:  # noqa: N802
                stub._serve(self)

            def do_DELETE(self) -> None:  # noqa: N802
                stub._serve(self)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def down(self) -> None:
        """Stop listening: connections are refused until `up()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):  # noqa: ANN204
        self.up()
        return self

    def __exit__(self, *_: Any) -> None:
        self.down()

    # --- serving ----------------------------------------------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.matches(method, path):
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        req = Request(h.command, split.path, params, body, dict(h.headers.items()))
        with self._lock:
            self.requests.append(req)
        fault = self._take_fault(h.command, split.path)
        status, payload, headers = 0, None, {}
        if fault is None or fault.process:
            status, payload = self.handle(req)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                req.status = -1
                h.close_connection = True
                return
            if fault.status is not None:
                status = fault.status
                payload = fault.body if fault.body is not None else self.fault_body(status)
                if fault.retry_after is not None:
                    headers["Retry-After"] = fault.retry_after
        injected_body = fault is not None and fault.body is not None
        if self.echo_credentials and (status >= 400 or injected_body or self.is_error(payload)):
            payload = self.echo(req, payload)
        req.status, req.response = status, payload
        data = b"" if status == 204 else json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass

    def handle(self, req: Request) -> tuple[int, Any]:
        raise NotImplementedError

    def fault_body(self, status: int) -> Any:
        """The body of an injected error, shaped like the real service's."""
        return {"code": status * 100000, "message": f"injected {status}"}

    def credentials(self, req: Request) -> str:
        """The request's credentials, as an error page quoting the request would show them."""
        return ""

    def is_error(self, payload: Any) -> bool:
        """An error answered with a 2xx status (Slack's `ok: false`)."""
        return False

    def echo(self, req: Request, payload: Any) -> Any:
        """`payload` with the request's credentials written into it."""
        quoted = f"request had {self.credentials(req)}"
        if isinstance(payload, dict):
            payload = dict(payload)
            payload["message"] = f"{payload.get('message', '')} ({quoted})"
            payload["request_headers"] = quoted
            return payload
        if isinstance(payload, list):
            return [*payload, quoted]
        return f"{payload} ({quoted})"


FINAL = ("filled", "canceled", "expired", "rejected", "replaced")  # Alpaca's final statuses


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class _Book:
    cash: float
    last_equity: float | None
    positions: dict[str, dict[str, float]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    legs: dict[str, dict[str, Any]] = field(default_factory=dict)  # by leg id, not in `orders`
    leg_ids: dict[str, list[str]] = field(default_factory=dict)  # parent id -> its legs' ids


class AlpacaTradingStub(HTTPStub):
    def __init__(self, key_id: str = "stub-key-id", secret: str = "stub-secret-value",
                 cash: float = 100_000.0, last_equity: float | None = None,
                 prices: dict[str, float] | None = None, is_open: bool = True,
                 fill_after: int = 1, final_status: str = "filled") -> None:
        super().__init__()
        self.key_id, self.secret = key_id, secret
        self.book = _Book(cash, last_equity)
        self.prices = prices or {}
        self.is_open = is_open
        self.fill_after = fill_after
        self.final_status = final_status

    # --- helpers for tests ------------------------------------------------------------------
    def credentials(self, req: Request) -> str:
        return (f"APCA-API-KEY-ID: {req.headers.get('APCA-API-KEY-ID')}, "
                f"APCA-API-SECRET-KEY: {req.headers.get('APCA-API-SECRET-KEY')}")

    @property
    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.book.orders.values())

    def set_position(self, symbol: str, qty: float, price: float) -> None:
        with self._lock:
            self.book.positions[symbol] = {"qty": qty, "avg": price}
            self.prices.setdefault(symbol, price)

    def legs(self, parent_id: str) -> dict[str, dict[str, Any]]:
        """A bracket order's legs by reason ("take_profit", "stop_loss")."""
        with self._lock:
            legs = [self.book.legs[i] for i in self.book.leg_ids.get(parent_id, [])]
            return {("take_profit" if leg["type"] == "limit" else "stop_loss"): leg for leg in legs}

    def fill_leg(self, parent_id: str, reason: str, price: float) -> None:
        """The market reached a leg: it fills at `price`, its sibling is canceled, the position
        is closed."""
        with self._lock:
            if self.book.orders[parent_id]["status"] != "filled":
                raise ValueError("a leg cannot fill before its entry")
            for name, leg in self.legs(parent_id).items():
                if name == reason:
                    self._trade(leg["symbol"], leg["side"], float(leg["qty"]), price)
                    leg.update(status="filled", filled_qty=leg["qty"],
                               filled_avg_price=f"{price:.4f}", filled_at=_now())
                elif leg["status"] not in FINAL:
                    leg.update(status="canceled", canceled_at=_now())

    def equity(self) -> float:
        return self.book.cash + sum(p["qty"] * self.prices.get(s, p["avg"])
                                    for s, p in self.book.positions.items())

    # --- API --------------------------------------------------------------------------------
    def handle(self, req: Request) -> tuple[int, Any]:
        if (req.headers.get("APCA-API-KEY-ID") != self.key_id
                or req.headers.get("APCA-API-SECRET-KEY") != self.secret):
            return 401, {"code": 40110000, "message": "request is not authorized"}
        with self._lock:
            path = req.path
            if req.method == "GET" and path == "/v2/account":
                eq = self.equity()
                return 200, {"id": "acct-1", "status": "ACTIVE", "currency": "USD",
                             "cash": f"{self.book.cash:.2f}", "equity": f"{eq:.2f}",
                             "last_equity": f"{self.book.last_equity or eq:.2f}",
                             "buying_power": f"{2 * eq:.2f}"}
            if req.method == "GET" and path == "/v2/positions":
                return 200, [self._position(s, p) for s, p in self.book.positions.items()]
            if req.method == "GET" and path == "/v2/clock":
                return 200, {"timestamp": _now(), "is_open": self.is_open,
                             "next_open": "2030-01-02T14:30:00Z",
                             "next_close": "2030-01-02T21:00:00Z"}
            if req.method == "POST" and path == "/v2/orders":
                return self._create(req.body or {})
            nested = req.params.get("nested") == "true"
            if req.method == "GET" and path == "/v2/orders:by_client_order_id":
                oid = self.book.by_client_id.get(req.params.get("client_order_id", ""))
                if oid is None:
                    return 404, {"code": 40410000, "message": "order not found"}
                return 200, self._view(self.book.orders[oid], nested)
            if path.startswith("/v2/orders/"):
                oid = path.rsplit("/", 1)[1]
                order = self.book.orders.get(oid) or self.book.legs.get(oid)
                if order is None:
                    return 404, {"code": 40410000, "message": "order not found"}
                if req.method == "DELETE":
                    return self._cancel(order)
                if req.method == "GET" and oid in self.book.orders:
                    self.book.polls[oid] = self.book.polls.get(oid, 0) + 1
                    if self.book.polls[oid] >= self.fill_after:
                        self._finish(order)
                if req.method == "GET":
                    return 200, self._view(order, nested)
        return 404, {"code": 40400000, "message": f"no route {req.method} {req.path}"}

    def _position(self, symbol: str, p: dict[str, float]) -> dict[str, Any]:
        price = self.prices.get(symbol, p["avg"])
        return {"symbol": symbol, "qty": f"{abs(p['qty']):g}",
                "side": "long" if p["qty"] > 0 else "short",
                "avg_entry_price": f"{p['avg']:.4f}", "current_price": f"{price:.4f}",
                "market_value": f"{p['qty'] * price:.2f}"}

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        missing = [k for k in ("symbol", "qty", "side", "type", "time_in_force") if k not in body]
        if missing:
            return 422, {"code": 40010000, "message": f"missing {missing}"}
        coid = body.get("client_order_id") or str(uuid.uuid4())
        if coid in self.book.by_client_id:
            return 422, {"code": 40010001, "message": "client_order_id must be unique"}
        bracket = body.get("order_class") == "bracket"
        if bracket and (refused := _bracket_refusal(body)):
            return 422, {"code": 42210000, "message": refused}
        oid = str(uuid.uuid4())
        order = self._order(oid, coid, body["symbol"], str(body["qty"]), body["side"],
                            body["type"], body["time_in_force"], "accepted",
                            order_class=body.get("order_class", "simple"))
        self.book.orders[oid] = order
        self.book.by_client_id[coid] = oid
        if bracket:
            exit_side = "sell" if body["side"] == "buy" else "buy"
            legs = [self._order(str(uuid.uuid4()), str(uuid.uuid4()), body["symbol"],
                                order["qty"], exit_side, kind, body["time_in_force"], "held",
                                order_class="bracket", **{key: body[reason][key]})
                    for reason, key, kind in (("take_profit", "limit_price", "limit"),
                                              ("stop_loss", "stop_price", "stop"))]
            self.book.legs.update((leg["id"], leg) for leg in legs)
            self.book.leg_ids[oid] = [leg["id"] for leg in legs]
        if self.fill_after == 0:
            self._finish(order)
        return 200, self._view(order, True)

    @staticmethod
    def _order(oid: str, coid: str, symbol: str, qty: str, side: str, kind: str, tif: str,
               status: str, **extra: Any) -> dict[str, Any]:
        return {"id": oid, "client_order_id": coid, "symbol": symbol, "qty": qty, "side": side,
                "type": kind, "time_in_force": tif, "status": status, "filled_qty": "0",
                "filled_avg_price": None, "filled_at": None, "canceled_at": None,
                "created_at": _now(), "submitted_at": _now(), "limit_price": None,
                "stop_price": None, **extra}

    def _view(self, order: dict[str, Any], nested: bool) -> dict[str, Any]:
        """The order as Alpaca answers it: legs only when asked `nested=true` (else null)."""
        ids = self.book.leg_ids.get(order["id"])
        legs = [dict(self.book.legs[i]) for i in ids] if ids and nested else None
        return {**order, "legs": legs}

    def _cancel(self, order: dict[str, Any]) -> tuple[int, Any]:
        if order["status"] in FINAL:
            return 422, {"code": 42210000, "message": f"order is already {order['status']}"}
        order.update(status="canceled", canceled_at=_now())
        for leg_id in self.book.leg_ids.get(order["id"], []):  # an entry takes its legs along
            if self.book.legs[leg_id]["status"] not in FINAL:
                self.book.legs[leg_id].update(status="canceled", canceled_at=_now())
        return 204, None

    def _finish(self, order: dict[str, Any]) -> None:
        if order["status"] != "accepted":
            return
        legs = [self.book.legs[i] for i in self.book.leg_ids.get(order["id"], [])]
        if self.final_status != "filled":
            order["status"] = self.final_status
            for leg in legs:
                leg["status"] = "canceled"
            return
        qty = float(order["qty"])
        price = self.prices.get(order["symbol"], 100.0)
        self._trade(order["symbol"], order["side"], qty, price)
        order.update(status="filled", filled_qty=f"{qty:g}", filled_avg_price=f"{price:.4f}",
                     filled_at=_now())
        for leg in legs:  # the take-profit works; the stop-loss is held by it (one-cancels-other)
            leg["status"] = "new" if leg["type"] == "limit" else "held"

    def _trade(self, symbol: str, side: str, qty: float, price: float) -> None:
        signed = qty if side == "buy" else -qty
        self.book.cash -= signed * price
        p = self.book.positions.get(symbol, {"qty": 0.0, "avg": price})
        if p["qty"] == 0 or (p["qty"] > 0) == (signed > 0):
            p["avg"] = (p["qty"] * p["avg"] + signed * price) / (p["qty"] + signed)
        p["qty"] += signed
        if abs(p["qty"]) < 1e-9:
            self.book.positions.pop(symbol, None)
        else:
            self.book.positions[symbol] = p


def _bracket_refusal(body: dict[str, Any]) -> str | None:
    """Alpaca's checks of a bracket order that tests rely on, or None if it passes."""
    if not float(body["qty"]).is_integer():
        return "fractional orders must be simple orders"
    for reason, key in (("take_profit", "limit_price"), ("stop_loss", "stop_price")):
        value = (body.get(reason) or {}).get(key)
        if value is None:
            return f"{reason}.{key} is required for bracket orders"
        decimals = len(str(value).partition(".")[2])
        if decimals > (2 if float(value) >= 1 else 4):
            return (f"invalid {reason}.{key} {value}. sub-penny increment does not fulfill "
                    "minimum pricing criteria")
    return None
