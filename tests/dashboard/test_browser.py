"""End to end in headless Chromium: a real simulator run, contract signals and paper orders from
`tradeflow consume --once`, served by the dashboard and rendered by the page."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from backtest.execution import last_orders
from tradeflow.config import ORDERS, PRICES
from tradeflow.contracts import PriceBar, build
from tradeflow.trading.book import PositionBook
from tradeflow.topics import open_backend, read_all

from tools.browser import chromium_page, find_chromium
from tools.demo import build_demo, settings_for
from dashboard.server import Dashboard, start_server

from .conftest import fast_options, publish

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium is not installed (apt-get install chromium)")


def positions_after(data: Path) -> dict[str, str]:
    """Each symbol's position after every fill on `orders`, as the summary shows it."""
    with open_backend("file", settings_for(data)) as backend:
        orders = last_orders(read_all(backend, ORDERS, timeout=0.5))
    book = PositionBook()
    for o in sorted(orders.values(), key=lambda o: o.filled_at or o.updated_at):
        if o.filled_qty and o.filled_avg_price:
            book.fill(o.symbol, o.filled_qty if o.side.value == "buy" else -o.filled_qty,
                      o.filled_avg_price)
    out = {}
    for sym in ("AAPL", "MSFT"):
        h = book.holdings.get(sym)
        out[sym] = f"{h.qty:,.0f} @ {h.avg_price:,.2f}" if h else "—"
    return out


def test_page_shows_candles_signal_markers_and_summary(tmp_path: Path) -> None:
    data = tmp_path / "data"
    counts = build_demo(data, bars=120, symbols="AAPL,MSFT")
    assert counts["signals"] > 0 and counts["orders"] > 0, counts
    settings = settings_for(data)
    positions = positions_after(data)
    want = json.dumps(positions, separators=(",", ":"), ensure_ascii=False)  # as JSON.stringify

    async def main() -> None:
        backend = open_backend("file", settings)
        dash = Dashboard(backend, settings, fast_options())
        runner, port = await start_server(dash)
        try:
            async with chromium_page(1280, 900) as page:
                await page.goto(f"http://127.0.0.1:{port}/")
                await page.wait_for("window.TF && TF.stats.candles > 0 && TF.stats.markers > 0",
                                    timeout=20)
                candles = int(await page.evaluate("document.getElementById('price').dataset.candles"))
                markers = int(await page.evaluate("document.getElementById('price').dataset.markers"))
                assert candles >= 50 and markers >= 1
                rows = await page.wait_for(
                    "Array.from(document.querySelectorAll('#summary tbody tr[data-symbol]'))"
                    ".map(r => r.dataset.symbol).join(',')")
                assert rows == "AAPL,MSFT"
                # Orders are read once the signals have caught up, so positions may reach the
                # page a few ticks after the first rows: wait for them rather than race them.
                # Each row shows the position its orders leave (some exited, flat: "—").
                rows_shown = await page.wait_for(
                    "(() => { const p = Object.fromEntries([...document.querySelectorAll("
                    "'#summary tbody tr[data-symbol]')].map(r => [r.dataset.symbol,"
                    " r.cells[8].innerText]));"
                    f" return JSON.stringify(p) === {json.dumps(want)} && p;"
                    " })()", timeout=10)
                assert set(rows_shown) == {"AAPL", "MSFT"}
                assert "VWAP" in await page.evaluate("document.querySelector('#summary').innerText")
                assert await page.wait_for(
                    "document.querySelectorAll('#signals li .badge').length")
                assert await page.wait_for("document.querySelectorAll('#orders td.sym').length")
                # A closing order says why: the demo's positions exit on signals and horizons.
                exits = await page.wait_for(
                    "(e => e.length && e)([...document.querySelectorAll('#orders .exit')]"
                    ".map(e => e.innerText))", timeout=10)
                assert exits and set(exits) <= {"signal", "horizon", "stop loss", "take profit"}, exits
                assert "trading enabled" in await page.wait_for(
                    "TF.status.kill_switch && document.getElementById('kill').innerText")
                # What the data is: the simulator's bars, said in the header.
                badge = await page.wait_for("TF.provenance && document.getElementById('source')"
                                            ".innerText")
                assert "SIMULATED DATA" in badge and "invented prices" in badge
                assert await page.evaluate("document.getElementById('source').dataset.kind") \
                    == "simulated"
                # Orders on the signals' clock: the row shows its signal's bar time (ET), the
                # wall-clock time below it.
                shown, expected, wall = await page.evaluate(
                    "(() => { const o = [...TF.orders.values()].filter(o => o.bar_t != null)"
                    ".sort((a, b) => b.bar_t - a.bar_t || b.t - a.t)[0];"
                    " const td = document.querySelector('#orders tbody td.otime');"
                    " return [td.querySelector('.bar-t').innerText,"
                    " new Intl.DateTimeFormat('en-US', {hour: '2-digit', minute: '2-digit',"
                    " hour12: false, timeZone: 'America/New_York'})"
                    ".format(new Date(o.bar_t * 1000)),"
                    " td.querySelector('.wall').innerText]; })()")
                assert shown == expected and wall.startswith("wall "), (shown, expected, wall)
                # Live: a new bar published now reaches the page through the websocket.
                selected = await page.evaluate("TF.selected")
                n = await page.evaluate(f"TF.bars['{selected}'].length")
                last = await page.evaluate(f"TF.bars['{selected}'].at(-1)")
                new = build(PriceBar, symbol=selected,
                            event_time=datetime.fromtimestamp(last["t"] + 60, timezone.utc),
                            open=last["c"], high=last["c"] + 1, low=last["c"] - 1,
                            close=last["c"] + 0.5, volume=1234, source="test")
                publish(backend, PRICES, [new])
                await page.wait_for(f"TF.bars['{selected}'].at(-1).v === 1234", timeout=10)
                # A bar of another source (here "test") makes the mix visible.
                # (the state first, then the header's text: wait for the text itself)
                assert "MIXED DATA" in await page.wait_for(
                    "(t => t.includes('MIXED DATA') && t)"
                    "(document.getElementById('source').innerText)", timeout=10)
                assert await page.evaluate("TF.provenance.kind") == "mixed"
                assert await page.evaluate(f"TF.bars['{selected}'].length") in (n, n + 1)
                assert not [c for c in page.console if "Error" in c], page.console
        finally:
            await runner.cleanup()
            backend.close()

    asyncio.run(main())
