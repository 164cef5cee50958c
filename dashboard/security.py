"""Who may talk to the dashboard: Host and Origin checks, and the optional access token.

Threats: a web page open in the operator's browser reading `/ws` or the JSON endpoints (a
cross-site websocket is not covered by the same-origin policy: the server must check `Origin`),
and DNS rebinding (an attacker's name resolved to 127.0.0.1: same-origin for the browser, caught
by the `Host` check). Rules, for every route:

* `/healthz` and `/metrics` from a loopback peer: always open (probes, Prometheus on the host).
* `Host` must be the address of an allowed origin (own address: `HOST:PORT` and its
  localhost/127.0.0.1/[::1] equivalents; plus `TRADEFLOW_DASHBOARD_ALLOWED_ORIGINS`).
* `Origin`, when sent (browsers always send it on a websocket and on cross-origin requests),
  must be an allowed origin; `Origin: null` (sandboxed frames, files) is refused.
* With a token configured: `Authorization: Bearer <token>`, the cookie set by `/?token=<token>`
  (HttpOnly, SameSite=Strict) or `?token=` itself; compared in constant time.

A refusal is a 403 with a one-line reason in the body (and a debug log line, no traceback).

Every response also carries a Content-Security-Policy (`security_headers`): scripts only from
this server (the page's own files and the vendored chart library under /static/vendor/, no CDN,
no inline script, no eval), the websocket and API only to this server, no frames, forms, plugins
or `<base>`. Inline styles stay allowed: the chart library writes a `<style>` element for its
attribution logo, and styles cannot run code.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from tradeflow.config import is_loopback, normalize_origin

log = logging.getLogger("dashboard.security")

COOKIE = "tradeflow_dashboard_token"
OPEN_ON_LOOPBACK = frozenset({"/healthz", "/metrics"})
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = ("", "0.0.0.0", "::", "[::]")
_PLAIN_HOST = re.compile(r"([A-Za-z0-9.\-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?")


@dataclass
class Access:
    """The allowed origins and hosts (fixed by `bind` once the port is known) and the token."""

    extra_origins: tuple[str, ...] = ()
    token: str | None = None
    origins: frozenset[str] = field(default_factory=frozenset)
    hosts: frozenset[str] = field(default_factory=frozenset)

    def bind(self, host: str, port: int) -> None:
        names: list[str] = []
        h = host.strip().lower()
        if h and h not in _WILDCARDS:
            names.append(f"[{h}]" if ":" in h and not h.startswith("[") else h)
        if h in _WILDCARDS or is_loopback(h):
            names.extend(_LOOPBACK_NAMES)
        own = [normalize_origin(f"http://{n}:{port}") for n in names]
        origins = {o for o in (*own, *self.extra_origins) if o}
        hosts: set[str] = set()
        for o in origins:
            u = urlsplit(o)
            name = f"[{u.hostname}]" if ":" in (u.hostname or "") else u.hostname
            default = 80 if u.scheme == "http" else 443
            hosts.add(f"{name}:{u.port or default}")
            if u.port is None:  # browsers leave a default port out of Host
                hosts.add(str(name))
        self.origins, self.hosts = frozenset(origins), frozenset(hosts)

    def token_ok(self, given: str | None) -> bool:
        if self.token is None:
            return True
        if not given:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    def refusal(self, request: web.Request) -> str | None:
        """Why this request is refused (one line), or None."""
        if request.path in OPEN_ON_LOOPBACK and _peer_is_loopback(request):
            return None
        host = (request.headers.get("Host") or "").strip().lower()
        if not host:
            return "missing Host header"
        if host not in self.hosts:
            return f"Host {host[:100]!r} is not an address of this dashboard"
        origin = request.headers.get("Origin")
        if origin is not None and normalize_origin(origin) not in self.origins:
            return f"Origin {origin[:100]!r} is not allowed"
        if self.token is not None and not self.token_ok(_given_token(request)):
            return "missing or wrong token (open /?token=... once, or send Authorization: Bearer)"
        return None


def _given_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.query.get("token") or request.cookies.get(COOKIE)


def _peer_is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def middleware(access: Access) -> Callable:
    @web.middleware
    async def guard(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        why = access.refusal(request)
        if why is not None:
            log.debug("refused %s %s from %s: %s", request.method, request.path, request.remote,
                      why)
            return web.Response(status=403, text=f"forbidden: {why}\n")
        given = request.query.get("token")
        if access.token is not None and given and request.path == "/":
            # First load with ?token=: keep it in a cookie and take it out of the address bar.
            resp = web.HTTPSeeOther("/")
            resp.set_cookie(COOKIE, given, httponly=True, samesite="Strict", path="/",
                            secure=request.secure)
            return resp
        return await handler(request)

    return guard


def content_security_policy(host: str) -> str:
    """The policy for a page served as `host` (the request's Host header)."""
    # 'self' covers ws: and wss: in CSP 3, but older Safari does not apply it to websockets;
    # a Host that is not a plain host[:port] (only possible on a refused request) is left out.
    own_ws = f" ws://{host} wss://{host}" if _PLAIN_HOST.fullmatch(host) else ""
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self'; connect-src 'self'{own_ws}; object-src 'none'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: runs for every response, static files and websockets included."""
    response.headers["Content-Security-Policy"] = content_security_policy(request.host)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
