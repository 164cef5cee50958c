"""The websocket hub: one bounded queue per browser, so a slow one never holds anyone up.

Protocol (`/ws`, JSON text frames):

  server -> browser
    {"type": "snapshot", "seq": n, "t": wall time, "config": {...}, "symbols": [...],
     "bars": {SYM: [bar, ...]}, "signals": [signal, ...], "orders": [order, ...],
     "news": [story, ...], "headlines": {SYM: [story, ...]}, "sentiment": {SYM: {...}},
     "summary": {window: summary, ...}, "status": {...}, "provenance": {...}}
        sent first on every connection, and again after the browser missed deltas.
        `config.indicators` holds the periods the job computes its indicators with (from
        strategy.toml, see `indicators.py`), which the page draws and labels its overlays with.
        `provenance` says what the bars are (simulated, replay, live, other, mixed; see
        `snapshot.py`); each order carries `bar_t` and `fill_t`, the end times of the bars it
        was decided on and filled in (the bars' clock; None when unknown), `t` its wall clock.
    {"type": "delta", "seq": n, "t": wall time, "t_in": wall time the oldest record in it was
     read from its topic, "bars": [...], "signals": [...], "orders": [...], "news": [...],
     "sentiment": {...}, "summary": {...}, "status": {...}, "provenance": {...}}
        at most one per tick (250 ms), carrying only the keys that changed. Records are the dicts
        of `wire.py` (bar: symbol, t, o, h, l, c, v). Applying them is idempotent: a bar
        replaces the bar of the same time, signals/news are keyed by id, orders by client id.
        A delta with seq <= the snapshot's seq is already contained in it.
  browser -> server
    {"type": "snapshot"}  ask for a fresh snapshot (the page does so if it sees a gap in seq).
        Other types are ignored; a frame that is not a small, shallow JSON object (over
        `MAX_FRAME` characters, nested deeper than 4, not JSON) closes the connection (1003),
        over 4 KiB already in aiohttp (1009).

Back-pressure: a delta is serialised once and put on each client's queue (`queue_size` messages).
A full queue means the client is behind: the delta is skipped for it and counted, and once its
queue has room again it gets one fresh snapshot instead of the deltas it missed. Each connection's kernel send
buffer is capped (`send_buffer`), so the memory a client can pin is bounded. A client that
stays full for `slow_timeout` seconds is disconnected (its TCP connection aborted, since a close
handshake would wait on the same stuck socket); the page reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from .metrics import DashboardMetrics

log = logging.getLogger("dashboard.hub")

SNAPSHOT = object()  # queue marker: build the snapshot when it is sent, so it is the freshest
_ids = itertools.count(1)
MAX_FRAME = 1024  # the browser only ever sends {"type": "snapshot"}
_MAX_DEPTH = 4


def _frame_type(data: str) -> str | None:
    """The `type` of a browser frame, or None when it is not a small, shallow JSON object.
    Size and nesting are checked before parsing, so no frame can make the parser recurse deeply
    (a RecursionError) or work long."""
    if len(data) > MAX_FRAME:
        return None
    depth = 0
    for ch in data:  # brackets inside strings count too: harmless for the frames we accept
        if ch in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return None
        elif ch in "]}":
            depth -= 1
    try:
        msg = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(msg, dict):
        return None
    kind = msg.get("type")
    return kind if isinstance(kind, str) else ""


@dataclass(eq=False)
class Client:
    ws: web.WebSocketResponse
    request: web.Request
    queue: asyncio.Queue
    id: int = field(default_factory=lambda: next(_ids))
    dropped: int = 0
    sent: int = 0
    behind_since: float | None = None
    needs_snapshot: bool = False
    writer: asyncio.Task | None = None

    @property
    def remote(self) -> str:
        return str(self.request.remote)


@dataclass(eq=False)
class Hub:
    metrics: DashboardMetrics
    snapshot: Callable[[], str]
    queue_size: int = 32
    slow_timeout: float = 10.0
    heartbeat: float | None = 30.0
    send_buffer: int | None = 256 * 1024
    clients: set[Client] = field(default_factory=set, init=False)
    dropped: int = field(default=0, init=False)
    slow_disconnects: int = field(default=0, init=False)

    # --- fan-out ----------------------------------------------------------------------------
    def broadcast(self, message: str) -> None:
        """Queue one serialised delta for every client without ever waiting on one."""
        now = time.monotonic()
        for c in list(self.clients):
            q = c.queue
            if c.needs_snapshot:
                if not q.full():
                    # The snapshot is built when sent, so it already holds this delta.
                    q.put_nowait(SNAPSHOT)
                    c.needs_snapshot, c.behind_since = False, None
                    continue
            elif not q.full():
                q.put_nowait(message)
                c.behind_since = None
                continue
            c.dropped += 1
            self.dropped += 1
            self.metrics.dropped.inc()
            c.needs_snapshot = True
            if c.behind_since is None:
                c.behind_since = now
            elif now - c.behind_since >= self.slow_timeout:
                self.disconnect(c, f"stayed behind for {self.slow_timeout:g}s")
        self.update_gauges()

    def update_gauges(self) -> None:
        depths = [c.queue.qsize() for c in self.clients]
        self.metrics.clients.set(len(self.clients))
        self.metrics.queue_total.set(sum(depths))
        self.metrics.queue_max.set(max(depths, default=0))

    def disconnect(self, c: Client, why: str) -> None:
        if c not in self.clients:
            return
        log.info("disconnecting client %d (%s): %s; %d message(s) skipped", c.id, c.remote, why,
                 c.dropped)
        self.clients.discard(c)
        self.slow_disconnects += 1
        self.metrics.slow_disconnects.inc()
        if c.writer is not None:
            c.writer.cancel()
        transport = c.request.transport
        if transport is not None:
            transport.abort()
        self.update_gauges()

    async def close_all(self) -> None:
        for c in list(self.clients):
            self.clients.discard(c)
            if c.writer is not None:
                c.writer.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.ws.close(code=1001, message=b"server shutdown"), 1.0)
        self.update_gauges()

    # --- one connection ---------------------------------------------------------------------
    def _limit_kernel_buffer(self, request: web.Request) -> None:
        # Linux grows a socket's send buffer up to megabytes; capping it bounds what a stalled
        # browser can pin in the kernel and makes it show up as 'behind' within seconds.
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None and self.send_buffer:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)

    async def _write(self, c: Client) -> None:
        try:
            while True:
                item = await c.queue.get()
                text = self.snapshot() if item is SNAPSHOT else item
                await c.ws.send_str(text)
                c.sent += 1
                self.metrics.sent.inc()
        except (ConnectionError, RuntimeError) as err:  # the peer went away mid-send
            log.debug("client %d: send failed: %s", c.id, err)
        except asyncio.CancelledError:
            pass

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=4 * MAX_FRAME)
        await ws.prepare(request)
        self._limit_kernel_buffer(request)
        c = Client(ws, request, asyncio.Queue(maxsize=self.queue_size))
        c.queue.put_nowait(SNAPSHOT)
        self.clients.add(c)
        self.update_gauges()
        c.writer = asyncio.create_task(self._write(c), name=f"ws-writer-{c.id}")
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                kind = _frame_type(msg.data)
                if kind is None:
                    log.debug("client %d (%s): unreadable frame (%d chars), closing", c.id,
                              c.remote, len(msg.data))
                    await ws.close(code=WSCloseCode.UNSUPPORTED_DATA,
                                   message=b"expected a small JSON object like {\"type\": \"snapshot\"}")
                    break
                if kind == "snapshot":
                    if c.queue.full():
                        c.needs_snapshot = True
                    else:
                        c.queue.put_nowait(SNAPSHOT)
        finally:
            if c in self.clients:
                self.clients.discard(c)
                self.update_gauges()
            if c.writer is not None:
                c.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await c.writer
        return ws
