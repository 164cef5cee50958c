"""A stand-in for Alpaca's market-data API (bars and news) on 127.0.0.1, for tests.

It checks the key headers (401 when wrong), filters by `symbols` and `start`, pages with
`limit` / `page_token` / `next_page_token` (page size capped by `page_size` so small fixtures
still paginate), can be told to fail a number of times first (429 with Retry-After, 500), and
records every request it got.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    path: str
    params: dict[str, str]
    authorized: bool
    status: int = 0


@dataclass
class AlpacaDataStub:
    key_id: str = "stub-key-id"
    secret: str = "stub-secret-value"
    page_size: int = 1_000
    filter_news: bool = True  # False: serve every story, as if the server ignored `symbols`
    bars: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    news: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    _failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # --- control ----------------------------------------------------------------------------
    def fail(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `times` requests with `status` (and Retry-After when given)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self._failures += [(status, headers)] * times

    def paths(self, prefix: str = "") -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    @property
    def url(self) -> str:
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "AlpacaDataStub":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                stub._handle(self)

            def log_message(self, *_: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval keeps shutdown (each test's teardown) quick.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def __exit__(self, *_: Any) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # --- serving ----------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        ok = (h.headers.get("APCA-API-KEY-ID") == self.key_id
              and h.headers.get("APCA-API-SECRET-KEY") == self.secret)
        req = Request(split.path, params, ok)
        with self._lock:
            self.requests.append(req)
            failure = self._failures.pop(0) if self._failures else None
        if failure:
            status, headers = failure
            return self._send(h, req, status, {"message": "stub failure"}, headers)
        if not ok:
            return self._send(h, req, 401, {"code": 40110000, "message": "request is not authorized"})
        if split.path == "/v2/stocks/bars":
            return self._send(h, req, 200, self._bars(params))
        if split.path == "/v1beta1/news":
            return self._send(h, req, 200, self._news(params))
        self._send(h, req, 404, {"message": "not found"})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, req: Request, status: int, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        req.status = status
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _page(self, rows: list[Any], params: dict[str, str], default_limit: int
              ) -> tuple[list[Any], str | None]:
        offset = int(params.get("page_token", "0") or 0)
        size = min(int(params.get("limit", default_limit)), self.page_size)
        end = offset + size
        return rows[offset:end], (str(end) if end < len(rows) else None)

    def _bars(self, params: dict[str, str]) -> dict[str, Any]:
        start = _when(params["start"])
        wanted = params["symbols"].split(",")
        # Like Alpaca: ordered by symbol, then time; a page may split one symbol's bars.
        rows = [(s, b) for s in sorted(wanted) for b in self.bars.get(s, [])
                if not isinstance(b.get("t"), str) or _when(b["t"]) >= start]
        page, token = self._page(rows, params, 1_000)
        grouped: dict[str, list[Any]] = {}
        for s, b in page:
            grouped.setdefault(s, []).append(b)
        return {"bars": grouped, "next_page_token": token}

    def _news(self, params: dict[str, str]) -> dict[str, Any]:
        start = _when(params["start"])
        wanted = set(params["symbols"].split(","))
        rows = sorted((n for n in self.news
                       if (not self.filter_news or wanted & set(n.get("symbols", [])))
                       and _when(n["created_at"]) >= start), key=lambda n: n["created_at"])
        page, token = self._page(rows, params, 10)
        return {"news": page, "next_page_token": token}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def bar(t: str, o: float = 10.0, h: float = 11.0, low: float = 9.0, c: float = 10.5,
        v: float = 1000) -> dict[str, Any]:
    """An Alpaca bar object; `t` is the bar START."""
    return {"t": t, "o": o, "h": h, "l": low, "c": c, "v": v, "n": 12, "vw": (o + c) / 2}


def news(news_id: int, created_at: str, symbols: list[str], headline: str = "Headline"
         ) -> dict[str, Any]:
    """An Alpaca news object."""
    return {"id": news_id, "headline": headline, "summary": "", "author": "stub",
            "created_at": created_at, "updated_at": created_at,
            "url": f"https://example.test/{news_id}", "symbols": symbols, "source": "benzinga"}
