"""The websocket protocol over a real server and a real file backend: snapshot, then deltas."""

from __future__ import annotations

import pytest

import asyncio
from html.parser import HTMLParser

import aiohttp

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS

from .conftest import bar, news, order, publish, receive_json, serve, signal, walk

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

BAR_KEYS = {"symbol", "t", "o", "h", "l", "c", "v"}
SNAPSHOT_KEYS = {"type", "seq", "t", "config", "symbols", "bars", "signals", "orders", "news",
                 "headlines", "sentiment", "summary", "status", "provenance"}


def test_snapshot_then_deltas(backend, data_settings) -> None:
    publish(backend, PRICES, walk("AAPL", 30) + walk("MSFT", 30, price=300))
    publish(backend, SIGNALS, [signal("AAPL", 10)])
    publish(backend, ORDERS, [order("o1", "AAPL", "buy", 10, 10, 100.0, sid="sig-AAPL-10-BUY")])
    publish(backend, NEWS, [news("n1", "AAPL", 5, "Apple wins a contract")])

    async def main() -> None:
        async with serve(backend, data_settings) as (dash, url), aiohttp.ClientSession() as http:
            async with http.ws_connect(url + "/ws") as ws:
                snap = await receive_json(ws)
                assert snap["type"] == "snapshot" and SNAPSHOT_KEYS <= set(snap)
                assert snap["symbols"] == ["AAPL", "MSFT"]
                assert [len(snap["bars"][s]) for s in ("AAPL", "MSFT")] == [30, 30]
                assert set(snap["bars"]["AAPL"][0]) == BAR_KEYS
                times = [b["t"] for b in snap["bars"]["AAPL"]]
                assert times == sorted(times)
                assert [s["id"] for s in snap["signals"]] == ["sig-AAPL-10-BUY"]
                assert snap["orders"][0]["client_order_id"] == "o1"
                # One clock: the order sits at its signal's bar time, wall clock kept in `t`.
                assert snap["orders"][0]["bar_t"] == snap["signals"][0]["t"]
                assert snap["provenance"]["kind"] == "other"  # the test bars' source "test"
                assert snap["news"][0]["headline"] == "Apple wins a contract"
                assert snap["headlines"]["AAPL"][0]["id"] == "n1"
                assert set(snap["summary"]) == {"session", "15m", "1h"}
                assert snap["summary"]["session"]["symbols"]["AAPL"]["bars"] == 30
                assert snap["summary"]["session"]["symbols"]["AAPL"]["position"]["qty"] == 10
                assert snap["config"]["windows"] == ["session", "15m", "1h"]

                # New records arrive as deltas, seq following the snapshot's.
                new_bar = bar("AAPL", 30, 101, 102, 100, 101.5, 999)
                publish(backend, PRICES, [new_bar])
                publish(backend, SIGNALS, [signal("AAPL", 30, "SELL", 101.5)])
                seen_bar = seen_signal = False
                last_seq = snap["seq"]
                while not (seen_bar and seen_signal):
                    d = await receive_json(ws)
                    assert d["type"] == "delta"
                    assert d["seq"] == last_seq + 1
                    last_seq = d["seq"]
                    assert d["t"] >= d["t_in"]
                    for b in d.get("bars", []):
                        assert set(b) == BAR_KEYS
                        if b["t"] == int(new_bar.event_time.timestamp()):
                            assert (b["symbol"], b["c"], b["v"]) == ("AAPL", 101.5, 999)
                            seen_bar = True
                    for s in d.get("signals", []):
                        assert s["action"] == "SELL" and s["symbol"] == "AAPL"
                        assert {"id", "t", "price", "indicators", "reason"} <= set(s)
                        seen_signal = True

                # Asking for a snapshot gets one with the new state in it.
                await ws.send_json({"type": "snapshot"})
                while (m := await receive_json(ws))["type"] != "snapshot":
                    pass
                assert len(m["bars"]["AAPL"]) == 31 and len(m["signals"]) == 2
                assert m["seq"] >= last_seq

    asyncio.run(main())


def test_deltas_carry_summary_and_status(backend, data_settings) -> None:
    publish(backend, PRICES, walk("AAPL", 5))

    async def main() -> None:
        async with serve(backend, data_settings) as (dash, url), aiohttp.ClientSession() as http:
            async with http.ws_connect(url + "/ws") as ws:
                await receive_json(ws)
                publish(backend, PRICES, [bar("AAPL", 10, 100, 101, 99, 100.5, 1)])
                got_summary = got_status = False
                for _ in range(100):
                    d = await receive_json(ws)
                    if "summary" in d:
                        s = d["summary"]["session"]["symbols"]["AAPL"]
                        got_summary = got_summary or s["bars"] == 6
                    if "status" in d:
                        st = d["status"]
                        assert {"kill_switch", "flink", "feed", "healthy"} <= set(st)
                        assert st["kill_switch"]["engaged"] is False
                        assert st["flink"]["up"] is False  # nothing listens on its port
                        got_status = True
                    if got_summary and got_status:
                        break
                assert got_summary and got_status

    asyncio.run(main())


def test_kill_switch_state_is_shown(backend, data_settings) -> None:
    from tradeflow.trading.killswitch import kill_switch_for

    kill_switch_for(data_settings).engage("test halt", by="pytest")

    async def main() -> None:
        async with serve(backend, data_settings) as (dash, url):
            await dash.refresh_status()
            async with aiohttp.ClientSession() as http, http.ws_connect(url + "/ws") as ws:
                snap = await receive_json(ws)
                k = snap["status"]["kill_switch"]
                assert k["engaged"] is True and k["reason"] == "test halt" and k["by"] == "pytest"

    asyncio.run(main())


def test_summary_api(backend, data_settings) -> None:
    publish(backend, PRICES, [bar("AAPL", 0, 100, 102, 99, 102, 1000),
                              bar("AAPL", 1, 101, 104, 100, 102, 2000),
                              bar("AAPL", 2, 102, 105, 101, 103, 1000)])

    async def main() -> None:
        async with serve(backend, data_settings) as (dash, url), aiohttp.ClientSession() as http:
            async with http.get(url + "/api/summary") as r:
                body = await r.json()
                assert r.status == 200 and body["window"] == "session"
                assert body["symbols"]["AAPL"]["vwap"] == 102.0
            async with http.get(url + "/api/summary?window=2m") as r:
                body = await r.json()
                assert body["symbols"]["AAPL"]["volume"] == 3000
            async with http.get(url + "/api/summary?window=soon") as r:
                assert r.status == 400 and "bad window" in (await r.json())["error"]
            async with http.get(url + "/") as r:
                page = await r.text()
                assert r.status == 200 and "/static/app.js" in page
            # No CDN, nothing remote is loaded: every script and stylesheet is one of ours; the
            # only remote addresses are the links to tradingview.com its licence asks for.
            refs = _References()
            refs.feed(page)
            assert refs.loaded and all(u.startswith("/static/") for u in refs.loaded), refs.loaded
            assert {u for u in refs.links if "//" in u} == {"https://www.tradingview.com/"}
            for asset in refs.loaded + refs.links:
                if asset.startswith("/static/"):
                    async with http.get(url + asset) as r:
                        assert r.status == 200, asset

    asyncio.run(main())


class _References(HTMLParser):
    """What a page loads (`<script src>`, `<link href>`, `<img src>`) and where it links to."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.loaded.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.loaded.append(a["href"])
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
