"""Records and frames the dashboard cannot use are skipped and counted; nothing takes it down."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS
from tradeflow.topics import Record

from dashboard.feed import Batch

from .conftest import order, publish, receive_json, serve, signal, wait_until, walk

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

GOOD = json.loads(walk("AAPL", 1)[0].to_json())


def _bar(**change) -> bytes:
    return json.dumps({**GOOD, **change}).encode()


POISON_BARS = [
    _bar(event_time="0001-01-01T00:00:00+01:00"),  # OverflowError on the way to UTC
    _bar(event_time="0001-01-01T05:00:00Z"),  # valid UTC, but no New York session day
    _bar(event_time="9999-12-31T23:59:59-01:00"),  # past year 9999 in UTC
    _bar(event_time="2400-01-01T00:00:00Z"),
    _bar(open=1e300, high=1e300, close=1e300),  # finite, but its sums are not
    _bar(volume=1e308),
    _bar(open=10 ** 400, high=10 ** 400),  # an integer no float holds
    _bar(open="abc"),
    _bar(symbol=5),
    _bar(event_time=12),
    b'["a", "list"]',
    b"null",
    b"\xff\xfe not utf-8",
    b"{" * 5000,
    b'{"clock": ' + b"[" * 5000 + b"}",  # looks like a clock to the cheap test
]


def test_poison_records_do_not_kill_the_feed(backend, data_settings, caplog) -> None:
    # The poison comes first: every start replays it (the original bug never recovered).
    backend.publish(PRICES, [Record("AAPL", raw) for raw in POISON_BARS])
    backend.flush()
    publish(backend, PRICES, walk("AAPL", 10))
    bad_signal = json.loads(signal("AAPL", 3).to_json())
    backend.publish(SIGNALS, [Record("AAPL", json.dumps({**bad_signal, "price": 1e200,
                                                         "signal_id": "x"}).encode()),
                              Record("AAPL", json.dumps({**bad_signal, "indicators": {
                                  "sma_20": 1e300}, "signal_id": "y"}).encode())])
    backend.publish(ORDERS, [Record("AAPL", json.dumps(
        {**json.loads(order("o1", "AAPL", "buy", 1, 1, 100.0).to_json()),
         "updated_at": "0001-01-01T00:30:00+01:00"}).encode())])
    backend.publish(NEWS, [Record("AAPL", b'{"id": []}')])
    backend.flush()
    publish(backend, SIGNALS, [signal("AAPL", 5)])

    async def main() -> None:
        for n in range(2):  # and again after a restart (which replays the poison)
            async with serve(backend, data_settings) as (dash, url), \
                    aiohttp.ClientSession() as http:
                async with http.get(url + "/healthz") as r:
                    body = await r.json()
                    assert r.status == 200, body
                subs = body["subscriptions"]
                assert subs[PRICES]["invalid"] == len(POISON_BARS) + n
                assert subs[PRICES]["records"] == 10 + n
                assert (subs[SIGNALS]["invalid"], subs[ORDERS]["invalid"],
                        subs[NEWS]["invalid"]) == (2, 1, 1)
                async with http.ws_connect(url + "/ws") as ws:
                    snap = await receive_json(ws)
                assert len(snap["bars"]["AAPL"]) == 10 + n
                assert [s["id"] for s in snap["signals"]] == ["sig-AAPL-5-BUY"]
                async with http.get(url + "/api/summary") as r:
                    assert r.status == 200
                    assert (await r.json())["symbols"]["AAPL"]["bars"] == 10 + n
                # The feed still carries on: a new good bar arrives after the poison.
                publish(backend, PRICES, walk("AAPL", 1, start_minute=10 + n))
                backend.publish(PRICES, [Record("AAPL", POISON_BARS[0])])
                backend.flush()
                await wait_until(lambda: dash.feed.status()[PRICES]["records"] >= 11 + n)
                async with http.get(url + "/healthz") as r:
                    assert r.status == 200

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_any_exception_while_decoding_is_counted(backend, data_settings, monkeypatch,
                                                 caplog) -> None:
    """Whatever a decoder raises (the original bug: OverflowError, not a ContractError)."""
    from dashboard.events import Decoder

    real = Decoder.decode
    errors = iter([OverflowError("date value out of range"), RecursionError("deep"),
                   KeyError("t"), ZeroDivisionError("x")])

    def decode(self, topic, raw):
        if b'"boom"' in raw:
            raise next(errors)
        return real(self, topic, raw)

    monkeypatch.setattr(Decoder, "decode", decode)
    backend.publish(PRICES, [Record("AAPL", _bar(source="boom")) for _ in range(4)])
    backend.flush()
    publish(backend, PRICES, walk("AAPL", 5))

    async def main() -> None:
        async with serve(backend, data_settings) as (dash, url), aiohttp.ClientSession() as http:
            async with http.get(url + "/healthz") as r:
                assert r.status == 200
                sub = (await r.json())["subscriptions"][PRICES]
            assert (sub["invalid"], sub["records"], sub["alive"]) == (4, 5, True)

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    odd = [r for r in caplog.records if "unusable record" in r.getMessage()]
    assert len(odd) == 1 and "OverflowError" in odd[0].getMessage()  # once a minute per topic
    assert not [r for r in caplog.records if r.exc_info]


def test_a_record_the_aggregator_rejects_is_counted_and_skipped(backend, data_settings,
                                                                monkeypatch, caplog) -> None:
    from dashboard.server import Dashboard

    from .conftest import fast_options

    dash = Dashboard(backend, data_settings, fast_options())
    events = [dash.feed.decoder.decode(PRICES, b.to_json()) for b in walk("AAPL", 4)]
    broken = events[1]
    real = dash.aggregator.add_bar

    def add_bar(symbol, t, *values):
        if t == broken.t:  # a bar the aggregator chokes on
            raise KeyError("t")
        return real(symbol, t, *values)

    monkeypatch.setattr(dash.aggregator, "add_bar", add_bar)
    with caplog.at_level(logging.WARNING):
        dash.apply_batch(Batch(PRICES, events, 1, time.time()))
    assert dash.aggregator.summary()["symbols"]["AAPL"]["bars"] == 3
    assert dash.metrics.invalid.labels(PRICES)._value.get() == 2
    assert any("cannot use" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("frame", ["[" * 3000, '{"type": ' * 1000, "x" * 100_000,
                                   '{"type": "snapshot", "pad": "' + "a" * 2000 + '"}', "42"])
def test_unreadable_frame_closes_without_traceback(backend, data_settings, caplog,
                                                   frame: str) -> None:
    async def main() -> None:
        async with serve(backend, data_settings) as (dash, url), aiohttp.ClientSession() as http:
            async with http.ws_connect(url + "/ws") as ws:
                assert (await receive_json(ws))["type"] == "snapshot"
                await ws.send_str(frame)
                msg = await ws.receive(timeout=5)
                while msg.type == aiohttp.WSMsgType.TEXT:  # a delta sent meanwhile
                    msg = await ws.receive(timeout=5)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.CLOSING)
                assert ws.close_code in (1003, 1009)
            await asyncio.sleep(0.1)
            assert not dash.hub.clients
            # Everyone else is unaffected, and so is the next connection.
            async with http.ws_connect(url + "/ws") as ws:
                assert (await receive_json(ws))["type"] == "snapshot"
                await ws.send_json({"type": "snapshot"})
                assert (await receive_json(ws))["type"] == "snapshot"

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
