"""Headless Chromium driven over the Chrome DevTools Protocol (for the browser test and the
screenshot). The protocol is a websocket of JSON commands, which aiohttp already speaks, so no
WebDriver and no extra dependency: only Debian's `chromium` package.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tradeflow.config import get_job_settings

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
         "--force-device-scale-factor=1", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0")


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None (callers skip with a clear reason)."""
    given = get_job_settings().chromium
    for path in ((str(given),) if given else ()) + CHROMIUM_CANDIDATES:
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


class CDPError(RuntimeError):
    pass


class Page:
    """One browser tab: `call` a CDP method, `evaluate` JavaScript, wait, screenshot."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self.console: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            fut = self._waiting.pop(data.get("id"), None) if "id" in data else None
            if fut is not None and not fut.done():
                fut.set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append(json.dumps(data["params"]["exceptionDetails"])[:500])
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                             for a in args)[:500])
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(CDPError("browser connection closed"))

    async def call(self, method: str, timeout: float = 15.0, **params: Any) -> dict:
        msg_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = fut
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        data = await asyncio.wait_for(fut, timeout)
        if "error" in data:
            raise CDPError(f"{method}: {data['error']}")
        return data.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                              awaitPromise=True)
        if "exceptionDetails" in res:
            raise CDPError(f"JavaScript error: {res['exceptionDetails'].get('text')}: "
                           f"{res['exceptionDetails'].get('exception', {}).get('description')}")
        return res.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def wait_for(self, expression: str, timeout: float = 15.0, interval: float = 0.1) -> Any:
        """Poll a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(CDPError):
                last = await self.evaluate(expression)
                if last:
                    return last
            await asyncio.sleep(interval)
        raise TimeoutError(f"still false after {timeout:g}s: {expression} (last {last!r}); "
                           f"console: {self.console[-5:]}")

    # Real input events (not JavaScript-dispatched ones), so the page reacts as to a person.
    async def mouse_move(self, x: float, y: float, buttons: int = 0) -> None:
        await self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, buttons=buttons,
                        button="left" if buttons else "none")

    async def wheel(self, x: float, y: float, delta_y: float) -> None:
        """Scroll the wheel at (x, y): a negative delta scrolls up (a chart zooms in)."""
        await self.call("Input.dispatchMouseEvent", type="mouseWheel", x=x, y=y, deltaX=0,
                        deltaY=delta_y)

    async def drag(self, x0: float, y0: float, x1: float, y1: float, steps: int = 8) -> None:
        """Press the left button at (x0, y0), move to (x1, y1) in `steps`, release."""
        await self.mouse_move(x0, y0)
        await self.call("Input.dispatchMouseEvent", type="mousePressed", x=x0, y=y0,
                        button="left", buttons=1, clickCount=1)
        for i in range(1, steps + 1):
            await self.mouse_move(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps, 1)
        await self.call("Input.dispatchMouseEvent", type="mouseReleased", x=x1, y=y1,
                        button="left", buttons=0, clickCount=1)

    async def screenshot(self, path: Path, full_page: bool = True) -> int:
        """Save a PNG; returns its size in bytes."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = await self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1})
        res = await self.call("Page.captureScreenshot", timeout=30, **params)
        data = base64.b64decode(res["data"])
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
        return len(data)


async def _devtools_port(profile: Path, proc: asyncio.subprocess.Process, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise CDPError(f"chromium exited with code {proc.returncode}")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        await asyncio.sleep(0.05)
    raise CDPError("chromium did not open its DevTools port")


@contextlib.asynccontextmanager
async def chromium_page(width: int = 1440, height: int = 1000,
                        binary: str | None = None) -> AsyncIterator[Page]:
    """A fresh headless Chromium (own temporary profile) and one page in it; always cleaned up."""
    binary = binary or find_chromium()
    if binary is None:
        raise CDPError("no chromium binary found")
    profile = Path(tempfile.mkdtemp(prefix="tradeflow-chromium-"))
    proc = await asyncio.create_subprocess_exec(
        binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
        "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True)
    session = aiohttp.ClientSession()
    try:
        port = await _devtools_port(profile, proc, 20)
        base = f"http://127.0.0.1:{port}"
        targets: list = []
        for _ in range(50):
            async with session.get(f"{base}/json/list") as resp:
                targets = [t for t in await resp.json() if t.get("type") == "page"]
            if targets:
                break
            await asyncio.sleep(0.1)
        if not targets:
            raise CDPError("chromium opened no page")
        ws = await session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        await page.call("Page.enable")
        await page.call("Runtime.enable")
        await page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        try:
            yield page
        finally:
            page._reader.cancel()
            await ws.close()
    finally:
        await session.close()
        if proc.returncode is None:
            # Chromium leads its own process group (renderers, zygote): end exactly that group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
