"""A browser that never reads must not slow anyone else down nor make the server hold more than
its per-client bound: its deltas are skipped and counted, then it is disconnected."""

from __future__ import annotations

import pytest

import asyncio
import socket
import time

import aiohttp

from tradeflow.config import PRICES

from dashboard.snapshot import Limits

from .conftest import publish, receive_json, serve, wait_until, walk

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

QUEUE = 4


def _stalled_client(port: int) -> socket.socket:
    """A websocket client that completes the upgrade request and then never reads a byte."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: fills at once
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n" % port +
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    return s


def test_never_reading_client_is_skipped_counted_and_dropped(backend, data_settings) -> None:
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA"]
    publish(backend, PRICES, [b for s in symbols for b in walk(s, 200)])

    async def main() -> None:
        async with serve(backend, data_settings, tick=0.02, client_queue=QUEUE, slow_timeout=1.0,
                         send_buffer=32 * 1024,
                         limits=Limits(bars_per_symbol=200)) as (dash, url):
            port = int(url.rsplit(":", 1)[1])
            stalled = _stalled_client(port)
            await wait_until(lambda: len(dash.hub.clients) == 1)
            async with aiohttp.ClientSession() as http, http.ws_connect(url + "/ws") as ws:
                snap = await receive_json(ws)
                seq, minute = snap["seq"], 200
                # Deltas the good client got while the stalled one was being skipped, still
                # connected: the stalled one did not hold the others back.
                deltas, while_skipping, max_depth = 0, 0, 0
                # A bound for a stuck server, not a timing claim: the disconnect comes after
                # slow_timeout.
                guard = time.monotonic() + 60
                while not dash.hub.slow_disconnects:
                    assert time.monotonic() < guard, "the stalled client was never disconnected"
                    # Keep the pipeline busy: every tick carries big deltas (all symbols).
                    publish(backend, PRICES,
                            [b for s in symbols for b in walk(s, 40, start_minute=minute)])
                    minute += 40
                    while True:
                        try:
                            d = await receive_json(ws, timeout=0.05)
                        except asyncio.TimeoutError:
                            break
                        assert d["type"] == "delta" and d["seq"] == seq + 1, "good client lost data"
                        seq = d["seq"]
                        deltas += 1
                        if dash.hub.dropped and not dash.hub.slow_disconnects:
                            while_skipping += 1
                    max_depth = max([max_depth] + [c.queue.qsize() for c in dash.hub.clients])
                    await asyncio.sleep(0.01)
                # The stalled client was skipped (counted), then disconnected.
                assert dash.hub.dropped > 0
                assert dash.hub.slow_disconnects == 1
                assert len(dash.hub.clients) == 1  # only the good one is left
                # Its queue never held more than the bound.
                assert max_depth <= QUEUE
                # The good client kept receiving every delta (no gap in seq, checked above),
                # also while the stalled one was being skipped.
                assert deltas >= 5 and while_skipping >= 3, (deltas, while_skipping)
                # Metrics say so too.
                async with http.get(url + "/metrics") as r:
                    text = await r.text()
                assert f"tradeflow_dashboard_ws_dropped_messages_total {float(dash.hub.dropped)}" in text
                assert "tradeflow_dashboard_ws_slow_disconnects_total 1.0" in text
                assert "tradeflow_dashboard_ws_clients 1.0" in text
            stalled.close()

    asyncio.run(main())


def test_client_that_fell_behind_gets_a_fresh_snapshot(backend, data_settings) -> None:
    """Once a lagging client's queue has room again it gets one snapshot, not stale deltas."""
    publish(backend, PRICES, walk("AAPL", 10))

    async def main() -> None:
        async with serve(backend, data_settings, client_queue=2, slow_timeout=60) as (dash, url):
            async with aiohttp.ClientSession() as http, http.ws_connect(url + "/ws") as ws:
                assert (await receive_json(ws))["type"] == "snapshot"
                (client,) = dash.hub.clients
                client.writer.cancel()  # stop sending: the queue fills up
                await asyncio.sleep(0.05)
                for i in range(5):
                    dash.hub.broadcast(f'{{"type":"delta","seq":{1000 + i}}}')
                # (the server's own ticker may have queued an update too)
                assert client.dropped >= 3 and client.needs_snapshot
                client.queue.get_nowait()
                client.queue.get_nowait()  # it caught up
                dash.hub.broadcast('{"type":"delta","seq":2000}')
                from dashboard.hub import SNAPSHOT

                assert client.queue.get_nowait() is SNAPSHOT and client.queue.empty()

    asyncio.run(main())
