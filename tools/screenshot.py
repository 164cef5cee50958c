"""Make `docs/dashboard.png`: a pipeline run shown in headless Chromium.

    python -m tools.screenshot [--out docs/dashboard.png] [--width 1440] [--height 1100]
    python -m tools.screenshot --url http://127.0.0.1:8000/   # the page `make run` serves

Without --url it builds a quick run of its own (simulator, demo signals, consumer: `demo.py`).
The mouse rests on a bar of the price chart (one with a fill, three quarters along), so the
picture shows the crosshair and its hover card.

Needs Debian's `chromium`. Everything runs in a temporary data directory on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tradeflow.topics import open_backend

from .browser import Page, chromium_page
from .demo import build_demo, settings_for
from dashboard.server import Dashboard, Options, start_server

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 400 * 1024  # the candles, overlays and hover card do not compress below ~330 KB
READY = ("window.TF && TF.stats.candles > 0 && TF.stats.markers > 0 && "
         "document.querySelectorAll('#summary tbody tr[data-symbol]').length > 0 && "
         "document.querySelectorAll('#orders tbody tr td.sym').length > 0 && "
         "document.querySelectorAll('#positions tbody tr td.sym').length > 0")
# The bar to hover: the latest with a fill in the first three quarters of the chart (so the card
# has room on the right), else the bar three fifths along.
HOVER_TARGET = ("(() => { const bars = TF.bars[TF.selected] || []; if (!bars.length) return null;"
                " const cut = bars[Math.floor(bars.length * 0.75)].t;"
                " const fills = TFChart.markers().filter(m => m.id.startsWith('order:')"
                " && m.time <= cut);"
                " const at = (fills.at(-1) || {time: bars[Math.floor(bars.length * 0.6)].t});"
                " return at.time; })()")


async def hover_bar(page: Page, t: float) -> str:
    """Move the mouse onto the bar ending at `t` on the dashboard's price chart; returns the
    hover card's text once it shows that bar."""
    pt = await page.evaluate("(document.getElementById('price').scrollIntoView({block: 'center'}),"
                             f" TFChart.pointOf({t}))")
    if not pt:
        raise ValueError(f"bar {t} is not on screen")
    await page.mouse_move(pt["x"], pt["y"])
    return await page.wait_for(
        f"(h => !h.hidden && h.dataset.t === '{t}' && h.innerText)"
        "(document.getElementById('hover'))")


async def _shot(page: Page, out: Path, width: int) -> int:
    # The whole page in one viewport, so the chart is not resized (and the crosshair not lost)
    # while the picture is taken.
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                    deviceScaleFactor=1, mobile=False)
    await asyncio.sleep(0.3)  # layout and the chart's resize
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                    deviceScaleFactor=1, mobile=False)
    target = await page.evaluate(HOVER_TARGET)
    if target is not None:
        await hover_bar(page, target)
    await asyncio.sleep(0.3)  # one more frame after the crosshair moved
    return await page.screenshot(out, full_page=False)


async def shoot(url: str, out: Path, width: int = 1366, height: int = 1000) -> dict:
    """Screenshot the dashboard page at `url` into `out`, once candles, markers and orders show,
    with the mouse on the price chart."""
    async with chromium_page(width, height) as page:
        await page.goto(url)
        await page.wait_for(READY, timeout=60)
        await page.wait_for("TF.status && TF.status.kill_switch", timeout=10)
        await asyncio.sleep(0.3)  # one more frame after the last delta
        size = await _shot(page, out, width)
        # The README wants a small image; narrower than 1200 the page is one tall column.
        while size > MAX_BYTES and width - 100 >= 1200:
            width -= 100
            size = await _shot(page, out, width)
        stats = await page.evaluate("JSON.parse(JSON.stringify(TF.stats))")
    return {"path": str(out), "bytes": size, "width": width, **stats}


async def capture(out: Path, data_dir: Path, width: int = 1366, height: int = 1000,
                  symbol: str | None = None) -> dict:
    """Serve `data_dir` with a dashboard on a free port and screenshot the page into `out`."""
    settings = settings_for(data_dir)
    backend = open_backend("file", settings)
    # A port nothing listens on: the page honestly shows the Flink cluster as down.
    dash = Dashboard(backend, settings, Options(flink_url="http://127.0.0.1:9"))
    runner, port = await start_server(dash)
    try:
        url = f"http://127.0.0.1:{port}/" + (f"#{symbol}" if symbol else "")
        return {**await shoot(url, out, width, height), "port": port}
    finally:
        await runner.cleanup()
        backend.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    ap.add_argument("--width", type=int, default=1366)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--bars", type=int, default=110, help="Bars per symbol in the demo run.")
    ap.add_argument("--symbol", help="Symbol to chart (default: the one with most signals).")
    ap.add_argument("--url", help="Screenshot a running dashboard instead (e.g. the one `make run` "
                                  "serves on http://127.0.0.1:8000/).")
    args = ap.parse_args()
    if args.url:
        print(asyncio.run(shoot(args.url, args.out, args.width, args.height)))
        return
    with tempfile.TemporaryDirectory(prefix="tradeflow-shot-") as tmp:
        counts = build_demo(Path(tmp), bars=args.bars)
        result = asyncio.run(capture(args.out, Path(tmp), args.width, args.height, args.symbol))
    print({**counts, **result})


if __name__ == "__main__":
    main()
