"""Who may use the dashboard: Origin and Host checks on the websocket and the JSON endpoints, and
the access token required when it listens beyond loopback."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from tradeflow.config import PRICES, DashboardSettings

from dashboard.cli import dashboard
from dashboard.security import COOKIE

from .conftest import publish, receive_json, serve, walk

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

EVIL = "http://evil.example"


async def _raw_status(port: int, request: bytes) -> int:
    """Status code of one hand-written HTTP request (to send a missing or odd Host)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
        return int(line.split()[1])
    finally:
        writer.close()


def _upgrade(host: bytes) -> bytes:
    return (b"GET /ws HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n")


def test_origin_and_host_checks(backend, data_settings) -> None:
    publish(backend, PRICES, walk("AAPL", 5))

    async def main() -> None:
        async with serve(backend, data_settings) as (dash, url), aiohttp.ClientSession() as http:
            port = int(url.rsplit(":", 1)[1])
            # A page of another site cannot open the websocket...
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(url + "/ws", origin=EVIL)
            assert err.value.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(url + "/ws", origin="null")
            assert err.value.status == 403
            assert not dash.hub.clients
            # ...its own page can, under each name of its own address.
            for own in (url, f"http://localhost:{port}", f"http://[::1]:{port}"):
                async with http.ws_connect(url + "/ws", origin=own) as ws:
                    assert (await receive_json(ws))["type"] == "snapshot"
            # DNS rebinding: the right socket reached under another name.
            async with http.get(url + "/api/snapshot",
                                headers={"Host": f"evil.example:{port}"}) as r:
                assert r.status == 403 and "Host" in await r.text()
            assert await _raw_status(port, _upgrade(b"evil.example:%d" % port)) == 403
            # No Host at all (HTTP/1.0; aiohttp itself answers 400 to an HTTP/1.1 request).
            assert await _raw_status(port, b"GET /api/snapshot HTTP/1.0\r\n\r\n") == 403
            assert await _raw_status(port, _upgrade(b"127.0.0.1:%d" % port)) == 101
            # JSON endpoints: a foreign Origin is refused with a one-line reason.
            for path in ("/api/summary", "/api/snapshot", "/"):
                async with http.get(url + path, headers={"Origin": EVIL}) as r:
                    body = await r.text()
                    assert r.status == 403, path
                    assert body.startswith("forbidden: Origin") and body.count("\n") == 1
                async with http.get(url + path, headers={"Origin": url}) as r:
                    assert r.status == 200, path
            # Probes on loopback need nothing.
            async with http.get(url + "/healthz", headers={"Origin": EVIL, "Host": "x"}) as r:
                assert r.status == 200

    asyncio.run(main())


def test_configured_origin_is_allowed(backend, data_settings) -> None:
    async def main() -> None:
        async with serve(backend, data_settings,
                         allowed_origins=("https://tradeflow.example.com",)) as (_, url), \
                aiohttp.ClientSession() as http:
            ok = {"Origin": "https://tradeflow.example.com", "Host": "tradeflow.example.com"}
            async with http.get(url + "/api/summary", headers=ok) as r:
                assert r.status == 200
            async with http.get(url + "/api/summary", headers={**ok, "Origin": EVIL}) as r:
                assert r.status == 403
            async with http.get(url + "/api/summary") as r:  # its own address still works
                assert r.status == 200

    asyncio.run(main())


def test_token_required_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADEFLOW_DASHBOARD_TOKEN", raising=False)
    monkeypatch.delenv("TRADEFLOW_DASHBOARD_HOST", raising=False)
    for host in ("0.0.0.0", "::", "192.168.1.20", "dashboard.internal"):
        with pytest.raises(ValidationError, match="set TRADEFLOW_DASHBOARD_TOKEN"):
            DashboardSettings(TRADEFLOW_DASHBOARD_HOST=host)
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert DashboardSettings(TRADEFLOW_DASHBOARD_HOST=host).token is None
    s = DashboardSettings(TRADEFLOW_DASHBOARD_HOST="0.0.0.0", TRADEFLOW_DASHBOARD_TOKEN="s3cret")
    assert s.token == "s3cret" and "s3cret" not in repr(s)
    with pytest.raises(ValidationError, match="bad origin"):
        DashboardSettings(TRADEFLOW_DASHBOARD_ALLOWED_ORIGINS="evil.example")
    o = DashboardSettings(TRADEFLOW_DASHBOARD_ALLOWED_ORIGINS=" https://A.example:443/, "
                          "http://b.example:8080")
    assert o.origin_list == ("https://a.example", "http://b.example:8080")
    # The command refuses to start, in one line, whether the host comes from env or --host.
    r = CliRunner().invoke(dashboard, ["--host", "0.0.0.0", "--port", "0"])
    assert r.exit_code == 1
    assert r.output.strip().count("\n") == 0 and "TRADEFLOW_DASHBOARD_TOKEN" in r.output
    monkeypatch.setenv("TRADEFLOW_DASHBOARD_HOST", "0.0.0.0")
    r = CliRunner().invoke(dashboard, ["--port", "0"])
    assert r.exit_code == 1 and "TRADEFLOW_DASHBOARD_TOKEN" in r.output


def test_token_accepted_when_given(backend, data_settings) -> None:
    publish(backend, PRICES, walk("AAPL", 5))
    token = "correct horse battery staple"

    async def main() -> None:
        async with serve(backend, data_settings, token=token) as (_, url):
            async with aiohttp.ClientSession() as http:
                for path in ("/", "/api/summary", "/static/app.js"):
                    async with http.get(url + path) as r:
                        assert r.status == 403 and "token" in await r.text(), path
                with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                    await http.ws_connect(url + "/ws", origin=url)
                assert err.value.status == 403
                async with http.get(url + "/api/summary",
                                    headers={"Authorization": "Bearer wrong"}) as r:
                    assert r.status == 403
                async with http.get(url + "/api/summary",
                                    headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 200
                async with http.get(url + "/healthz") as r:  # loopback probe: open
                    assert r.status == 200
            # The page: opened once with ?token=, then the cookie carries it (websocket too).
            # (unsafe: aiohttp keeps no cookie of an IP address otherwise)
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
                async with browser.get(url + "/?token=nope", allow_redirects=False) as r:
                    assert r.status == 403
                async with browser.get(url + "/", params={"token": token},
                                       allow_redirects=False) as r:
                    assert r.status == 303 and r.headers["Location"] == "/"
                    cookie = r.cookies[COOKIE]
                    assert cookie["httponly"] and cookie["samesite"] == "Strict"
                async with browser.get(url + "/") as r:
                    assert r.status == 200
                async with browser.ws_connect(url + "/ws", origin=url) as ws:
                    assert (await receive_json(ws))["type"] == "snapshot"
                # A foreign page gets nothing even from a browser holding the cookie.
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await browser.ws_connect(url + "/ws", origin=EVIL)

    asyncio.run(main())



def test_content_security_policy_allows_only_this_server(backend, data_settings) -> None:
    """Every response says scripts, the websocket and the API come from this server only: the
    page, its files, the vendored chart library and the websocket handshake."""

    async def main() -> None:
        async with serve(backend, data_settings) as (_dash, url), aiohttp.ClientSession() as http:
            host = url.removeprefix("http://")
            for path in ("/", "/static/app.js",
                         "/static/vendor/lightweight-charts-5.2.1.standalone.production.js",
                         "/static/vendor/LICENSE-lightweight-charts.txt", "/api/summary"):
                async with http.get(url + path) as r:
                    assert r.status == 200, path
                    csp = dict(d.strip().split(" ", 1)
                               for d in r.headers["Content-Security-Policy"].split(";"))
                    assert csp["script-src"] == "'self'", path
                    assert csp["connect-src"] == f"'self' ws://{host} wss://{host}"
                    assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'"
                    assert csp["frame-ancestors"] == "'none'"
                    assert r.headers["X-Content-Type-Options"] == "nosniff"
            # The websocket's handshake too (its response is prepared by the handler).
            reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
            try:
                writer.write(_upgrade(host.encode()))
                head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
            finally:
                writer.close()
            assert head.startswith("HTTP/1.1 101")
            assert "Content-Security-Policy: default-src 'self'; script-src 'self';" in head

    asyncio.run(main())
