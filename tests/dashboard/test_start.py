"""Where the dashboard starts reading: a look-back by append time, over a real file backend."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from tradeflow.config import PRICES
from tradeflow.topics import file as file_backend

from dashboard.feed import resolve_start

from tests.conftest import fs_clock_past

from .conftest import bar, publish, receive_json, serve


@pytest.mark.integration
def test_a_look_back_start_shows_what_was_appended_in_it_and_not_before(
        backend, data_settings, monkeypatch, caplog) -> None:
    # The exact boundary, without the second of margin the file backend normally reads early.
    monkeypatch.setattr(file_backend, "SEAL_TIME_MARGIN_S", 0.0)
    publish(backend, PRICES, [bar("OLD", 0, 100, 101, 99, 100, 1)])  # publish seals it
    topic_dir = backend.topic_dir(PRICES)
    sealed = max(os.stat(topic_dir / n).st_ctime for n in os.listdir(topic_dir))
    fs_clock_past(data_settings.path(), sealed + 0.6)  # OLD is now over 0.5 s old...
    publish(backend, PRICES, [bar("MID", 1, 100, 101, 99, 100, 1)])  # ...and MID just appended

    async def main() -> None:
        async with serve(backend, data_settings, start="0.5s") as (dash, url), \
                aiohttp.ClientSession() as http, http.ws_connect(url + "/ws") as ws:
            assert (await receive_json(ws))["symbols"] == ["MID"]
            publish(backend, PRICES, [bar("NEW", 2, 100, 101, 99, 100, 1)])
            while not any(b["symbol"] == "NEW" for b in (await receive_json(ws)).get("bars", [])):
                pass
            await ws.send_json({"type": "snapshot"})
            while (snap := await receive_json(ws))["type"] != "snapshot":
                pass
            assert snap["symbols"] == ["MID", "NEW"]

    with caplog.at_level(logging.INFO, logger="dashboard"):
        asyncio.run(main())
    started = [r.getMessage() for r in caplog.records if "records appended since" in r.getMessage()]
    assert len(started) == 1 and started[0].endswith("(look-back 0.5s)"), started


def test_start_values() -> None:
    now = datetime(2026, 12, 2, 16, 30, 5, tzinfo=timezone.utc)
    assert resolve_start("6h", now) == (
        now - timedelta(hours=6), "records appended since 2026-12-02T10:30:05Z (look-back 6h)")
    assert resolve_start("earliest", now)[0] == "earliest"
    assert resolve_start(" latest ", now)[0] == "latest"
    assert resolve_start(now)[0] == now
    for bad in ("6", "six hours", "-1h", "0m", "session", ""):
        with pytest.raises(ValueError, match="is not (earliest, latest or a look-back|a duration)"):
            resolve_start(bad, now)
    with pytest.raises(ValueError, match="reaches back before the year 1"):
        resolve_start("9999999d", now)
    with pytest.raises(ValueError, match="has no time zone"):
        resolve_start(datetime(2026, 12, 2))
