"""End to end in headless Chromium: a real simulator run, contract signals and paper orders from
`tradeflow consume --once`, served by the dashboard and rendered by the page."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backtest.execution import last_orders
from tradeflow.config import ORDERS, PRICES
from tradeflow.contracts import Order, PriceBar, build
from tradeflow.trading.book import PositionBook
from tradeflow.topics import open_backend, read_all

from tools.browser import Page, chromium_page, find_chromium
from tools.demo import build_demo, settings_for, tradeflow
from tools.screenshot import hover_bar
from dashboard.server import Dashboard, start_server

from .conftest import OTHER_PERIODS, fast_options, publish, strategy_with, walk

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium is not installed (apt-get install chromium)")]


NEW_YORK = ZoneInfo("America/New_York")
VISIBLE_RANGE = "TFChart.api().timeScale().getVisibleRange()"
FORTY_CANDLES = "document.getElementById('price').dataset.candles === '40'"
LOGICAL_WIDTH = "(r => r.to - r.from)(TFChart.api().timeScale().getVisibleLogicalRange())"


@contextlib.asynccontextmanager
async def dashboard_page(backend, settings, options, ready: str) -> AsyncIterator[Page]:
    """A dashboard over `backend` and a headless Chromium page on it, once the JavaScript
    condition `ready` holds."""
    runner, port = await start_server(Dashboard(backend, settings, options))
    try:
        async with chromium_page(1280, 900) as page:
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.wait_for(f"window.TF && ({ready})", timeout=20)
            yield page
    finally:
        await runner.cleanup()


def et(t: datetime) -> str:
    return t.astimezone(NEW_YORK).strftime("%H:%M")


def orders_of(data: Path) -> dict[str, Order]:
    with open_backend("file", settings_for(data)) as backend:
        return last_orders(read_all(backend, ORDERS, timeout=0.5))


async def chart_centre(page: Page) -> tuple[float, float]:
    box = await page.evaluate("(r => [r.left + r.width / 2, r.top + r.height / 3])"
                              "(document.getElementById('price').getBoundingClientRect())")
    return box[0], box[1]


def positions_after(data: Path) -> dict[str, str]:
    """Each symbol's position after every fill on `orders`, as the summary shows it."""
    orders = orders_of(data)
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
        async with dashboard_page(backend, settings, fast_options(),
                                  "TF.stats.candles > 0 && TF.stats.markers > 0") as page:
            candles = int(await page.evaluate("document.getElementById('price').dataset.candles"))
            markers = int(await page.evaluate("document.getElementById('price').dataset.markers"))
            assert candles >= 50 and markers >= 1
            # Drawn by the vendored TradingView Lightweight Charts, with its attribution link.
            assert await page.evaluate("LightweightCharts.version()") == "5.2.1"
            assert await page.evaluate("document.querySelectorAll('#price canvas').length")
            logo = await page.evaluate("document.querySelector('#price a#tv-attr-logo').href")
            assert logo.startswith("https://www.tradingview.com/"), logo
            # (its style sheet, which the library writes itself, passes the page's CSP)
            assert await page.evaluate("getComputedStyle(document.querySelector("
                                       "'#tv-attr-logo')).position") == "absolute"
            assert "TradingView Lightweight Charts" in await page.evaluate(
                "document.getElementById('credit').innerText")
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
            # One clock: the newest order's row shows the bar it was decided on and the bar
            # it filled in (New York time, as the chart), the wall clock only in its tooltip.
            orders = orders_of(data)
            statuses = json.dumps({c: o.status.value for c, o in orders.items()})
            await page.wait_for(f"(w => TF.orders.size === Object.keys(w).length && [...TF"
                                f".orders.values()].every(o => w[o.client_order_id] === "
                                f"o.status))({statuses})")  # every order's last state
            newest = max(orders.values(), key=lambda o: (o.bar_time, o.updated_at))
            await page.wait_for("document.querySelector('#orders tbody tr').dataset.coid"
                                f" === {json.dumps(newest.client_order_id)}")
            row = await page.evaluate(
                "(tr => ({coid: tr.dataset.coid, bar: tr.querySelector('.bar-t').innerText,"
                " fill: (tr.querySelector('.fill-t') || {}).innerText || null,"
                " title: tr.querySelector('.otime').title}))"
                "(document.querySelector('#orders tbody tr'))")
            assert row["coid"] == newest.client_order_id, row
            assert row["bar"] == et(newest.bar_time), (row, newest)
            if newest.fill_bar_time and newest.fill_bar_time != newest.bar_time:
                assert row["fill"] == "fill " + et(newest.fill_bar_time), row
            assert "wall clock: submitted " + newest.submitted_at.strftime("%Y-%m-%dT%H:%M") \
                in row["title"], row
            # Fill markers on the chart sit on the bar each order filled in, never at the
            # wall-clock time it was written (the demo's bars are a morning of 2024).
            selected = await page.evaluate("TF.selected")
            held = set(await page.evaluate(f"TF.bars['{selected}'].map(b => b.t)"))
            fill_bars = {o.client_order_id: int((o.fill_bar_time or o.bar_time).timestamp())
                    for o in orders.values() if o.symbol == selected and o.filled_qty
                    and int((o.fill_bar_time or o.bar_time).timestamp()) in held}
            assert fill_bars, "no fill of the charted symbol in the bars the page holds"
            await page.wait_for("TFChart.markers().filter(m => m.id.startsWith('order:'))"
                                f".length === {len(fill_bars)}")  # drawn on the next frame
            fills = dict(await page.evaluate(
                "TFChart.markers().filter(m => m.id.startsWith('order:'))"
                ".map(m => [m.id.slice(6), m.time])"))
            assert fills == fill_bars
            assert not {int(o.updated_at.timestamp()) for o in orders.values()} & held
            # Crosshair: hovering a fill's bar shows that bar's values, the indicators
            # computed up to it, and the order filled in it.
            bars = await page.evaluate(f"TF.bars['{selected}']")
            coid, t = max(fill_bars.items(), key=lambda kv: kv[1])
            i = next(k for k, b in enumerate(bars) if b["t"] == t)
            card = await hover_bar(page, t)
            b = bars[i]
            ohlc = f"O {b['o']:,.2f} H {b['h']:,.2f} L {b['l']:,.2f} C {b['c']:,.2f}"
            assert ohlc in card, card
            assert et(datetime.fromtimestamp(t, timezone.utc)) + " ET" in card, card
            if i >= 19:
                sma = sum(x["c"] for x in bars[i - 19:i + 1]) / 20
                assert re.search(rf"SMA 20\s+{sma:,.2f}\b", card), (sma, card)
            o = orders[coid]
            line = await page.evaluate(
                f"document.querySelector('#hover .h-order[data-coid=\"{coid}\"]').innerText")
            fill = f"{o.side.value} {o.filled_qty:,.0f} @ {o.filled_avg_price:,.2f}"
            assert fill in line, line
            # Zoom (wheel) and pan (drag) back into the history.
            x, y = await chart_centre(page)
            width = await page.evaluate(LOGICAL_WIDTH)
            await page.wheel(x, y, -400)
            await page.wait_for(f"{LOGICAL_WIDTH} < {width} - 1")
            await page.drag(x, y, x + 250, y)
            await page.wait_for("TFChart.api().timeScale().scrollPosition() < -5")
            assert await page.wait_for("!document.getElementById('to-latest').hidden")
            back = await page.evaluate(VISIBLE_RANGE)
            # Live: a new bar published now reaches the page through the websocket.
            n = await page.evaluate(f"TF.bars['{selected}'].length")
            last = await page.evaluate(f"TF.bars['{selected}'].at(-1)")
            new = build(PriceBar, symbol=selected,
                        event_time=datetime.fromtimestamp(last["t"] + 60, timezone.utc),
                        open=last["c"], high=last["c"] + 1, low=last["c"] - 1,
                        close=last["c"] + 0.5, volume=1234, source="test")
            publish(backend, PRICES, [new])
            await page.wait_for(f"TF.bars['{selected}'].at(-1).v === 1234", timeout=10)
            # It is charted, and the history being read stays on screen; "latest" goes to it.
            new_t = int(new.event_time.timestamp())
            await page.wait_for(f"document.getElementById('price').dataset.last === '{new_t}'")
            # (its right end; the left one moves if its bar was the oldest, now dropped)
            assert (await page.evaluate(VISIBLE_RANGE))["to"] == back["to"] < new_t
            await page.evaluate("document.getElementById('to-latest').click()")
            await page.wait_for(f"{VISIBLE_RANGE}.to === {new_t}")
            # A bar of another source (here "test") makes the mix visible.
            # (the state first, then the header's text: wait for the text itself)
            assert "MIXED DATA" in await page.wait_for(
                "(t => t.includes('MIXED DATA') && t)"
                "(document.getElementById('source').innerText)", timeout=10)
            assert await page.evaluate("TF.provenance.kind") == "mixed"
            assert await page.evaluate(f"TF.bars['{selected}'].length") in (n, n + 1)
            assert not [c for c in page.console if "Error" in c], page.console
        backend.close()

    asyncio.run(main())


def test_page_labels_replayed_bars_and_hovers_their_values(tmp_path: Path) -> None:
    """`tradeflow produce replay` of a file: the badge says REPLAY (from the bars' `source`),
    and the crosshair shows the file's prices at the hovered bar."""
    data = tmp_path / "data"
    csv = tmp_path / "msft-minutes.csv"
    start = datetime(2024, 3, 5, 14, 31, tzinfo=timezone.utc)
    rows = [(start + timedelta(minutes=i), 400 + i * 0.25, 400.5 + i * 0.25 + (i % 3) * 0.1,
             399.5 + i * 0.25, 400.2 + i * 0.25 - (i % 4) * 0.05, 1000 + i) for i in range(40)]
    csv.write_text("symbol,timestamp,open,high,low,close,volume\n" + "".join(
        f"MSFT,{t.isoformat()},{o:.2f},{h:.2f},{low:.2f},{c:.2f},{v}\n"
        for t, o, h, low, c, v in rows))
    tradeflow(data, "produce", "replay", "--prices", str(csv))
    settings = settings_for(data)

    async def main() -> None:
        backend = open_backend("file", settings)
        async with dashboard_page(backend, settings, fast_options(), FORTY_CANDLES) as page:
            badge = await page.wait_for("TF.provenance && document.getElementById('source')"
                                        ".innerText")
            assert badge.startswith("REPLAY"), badge
            assert await page.evaluate("document.getElementById('source').dataset.kind") \
                == "replay"
            assert "replay:msft-minutes.csv" in await page.evaluate(
                "document.getElementById('source').title")
            t, o, h, low, c, _ = rows[30]
            card = await hover_bar(page, int(t.timestamp()))
            assert f"O {o:,.2f} H {h:,.2f} L {low:,.2f} C {c:,.2f}" in card, card
            assert f"{et(t)} ET" in card, card
            assert not [m for m in page.console if "Error" in m], page.console
        backend.close()

    asyncio.run(main())


def test_page_draws_and_labels_with_the_strategy_periods(tmp_path: Path, backend,
                                                         data_settings) -> None:
    """Other periods in strategy.toml: the legend, the pane labels, the hover card and the
    overlays' values follow them."""
    bars = walk("AAPL", 40)
    publish(backend, PRICES, bars)
    options = fast_options(strategy=strategy_with(tmp_path, OTHER_PERIODS))

    async def main() -> None:
        async with dashboard_page(backend, data_settings, options, FORTY_CANDLES) as page:
            names = await page.evaluate("[...document.querySelectorAll('[data-indicator]')]"
                                        ".map(e => e.textContent)")
            assert names == ["SMA 7", "EMA 5", "Bollinger 10, 1.5σ", "RSI 9", "MACD 8/17/5"]
            assert await page.evaluate("TFChart.rsiLevels()") == [25, 75]
            i = 30
            card = await hover_bar(page, int(bars[i].event_time.timestamp()))
            sma = sum(b.close for b in bars[i - 6:i + 1]) / 7
            assert re.search(rf"SMA 7\s+{sma:,.2f}\b", card), (sma, card)
            assert "EMA 5" in card and "RSI 9" in card, card
            assert not [m for m in page.console if "Error" in m], page.console

    asyncio.run(main())
