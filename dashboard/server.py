"""The dashboard's aiohttp application: state, feed, hub and routes tied together.

Routes: `GET /` (the page), `/static/*`, `/ws` (websocket, see `hub.py`), `/api/summary`
(`?window=15m|1h|session`, see `aggregator.py`), `/api/snapshot` (what a browser gets on connect),
`/healthz`, `/metrics`. Every route is behind the Host/Origin checks and the optional token of
`security.py`.

One event loop does everything but reading topics: the feed threads hand it validated batches;
a ticker turns what changed during the last tick into one delta for all browsers, so the message
rate to browsers is bounded by the tick, not by the (possibly replaying) input rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tradeflow.config import Settings, get_settings
from tradeflow.topics import Backend, StartAt

from .aggregator import SESSION, Aggregator, parse_window
from .events import Decoder, default_scorer
from .feed import Batch, Feed, resolve_start
from .flink import flink_status
from .hub import Hub
from .indicators import indicator_periods
from .metrics import CONTENT_TYPE_LATEST, DashboardMetrics, RecordRate
from .pending import Pending
from .records import fold
from .security import Access, middleware, security_headers
from .snapshot import DashboardState, Limits

log = logging.getLogger("dashboard")

STATIC = Path(__file__).resolve().parent / "static"


@dataclass
class Options:
    limits: Limits = field(default_factory=Limits)
    windows: tuple[str, ...] = ("15m", "1h")  # besides the session, pushed to the page
    # Where the topics are read from: "earliest", "latest", an aware datetime, or a look-back
    # such as "24h" (counted back from when the Dashboard is made; see feed.resolve_start).
    start: StartAt | str = "earliest"
    tick: float = 0.25
    summary_interval: float = 1.0
    status_interval: float = 2.0
    client_queue: int = 32
    send_buffer: int | None = 256 * 1024
    slow_timeout: float = 10.0
    heartbeat: float | None = 30.0
    flink_url: str | None = None  # None: http://localhost:$TRADEFLOW_FLINK_PORT
    score_headlines: bool = True
    allowed_origins: tuple[str, ...] = ()  # besides its own address (see security.py)
    token: str | None = None  # required from every client when set
    strategy: Path | None = None  # the job's parameters; None: the repository's strategy.toml


def _safe_read_account(path: Path) -> dict | None:
    """Cash, equity and P&L of the built-in paper broker, if this data dir has one."""
    if not path.exists():
        return None
    try:
        from tradeflow.trading.executors.paper import PaperBroker

        broker = PaperBroker(path)
        summary = {k: round(v, 2) for k, v in broker.summary().items()}
        positions = [{"symbol": p.symbol, "qty": p.qty, "avg_price": round(p.avg_price, 4),
                      "market_value": round(p.market_value, 2)}
                     for p in broker.account().positions.values()]
        return {"broker": "paper", **summary, "positions": positions}
    except (OSError, ValueError, KeyError, TypeError) as err:  # mid-write or foreign file
        log.debug("cannot read paper account %s: %s", path, err)
        return None


class Dashboard:
    def __init__(self, backend: Backend, settings: Settings | None = None,
                 options: Options | None = None) -> None:
        self.settings = settings or get_settings()
        self.opts = options or Options()
        for w in self.opts.windows:
            parse_window(w)  # fail at start, not on the first tick
        self.backend = backend
        self.indicators = indicator_periods(self.opts.strategy)
        self.metrics = DashboardMetrics()
        self.record_rate = RecordRate(self.metrics)
        self.aggregator = Aggregator(max_symbols=self.opts.limits.max_symbols)
        # Orders without a bar_time of their own are dated by their signal's: the aggregator
        # remembers more signals than the state holds.
        self.state = DashboardState(self.opts.limits, signal_time=self.aggregator.signal_time)
        decoder = Decoder(default_scorer() if self.opts.score_headlines else None)
        self.start, self.start_note = resolve_start(self.opts.start)
        self.feed = Feed(backend, decoder, self.metrics, start=self.start)
        self.hub = Hub(self.metrics, self.snapshot_message, self.opts.client_queue,
                       self.opts.slow_timeout, self.opts.heartbeat,
                       self.opts.send_buffer)
        self.access = Access(tuple(self.opts.allowed_origins), self.opts.token or None)
        self.flink_url = self.opts.flink_url or f"http://localhost:{self.settings.flink_rest_port}"
        self.seq = 0
        self.status: dict[str, Any] = {}
        self.started_at = time.time()
        self.pending = Pending(self.opts.limits)
        self._summary_dirty = False
        self._status_fresh = False
        self._provenance_sent: dict | None = None
        self._snapshot_cache: tuple[int, str] | None = None
        self._tasks: list[asyncio.Task] = []
        self._http: aiohttp.ClientSession | None = None

    # --- input ------------------------------------------------------------------------------
    def apply_batch(self, batch: Batch) -> None:
        changed = False
        invalid = batch.invalid
        newest_t: float | None = None
        for ev in batch.events:
            try:
                if self.aggregator.apply(ev):
                    self._summary_dirty = True
                new = fold(self.state, ev)
            except Exception as err:  # noqa: BLE001 - one record must not stop the updates
                invalid += 1
                log.warning("skipped a record on %s the dashboard cannot use: %s: %s",
                            ev.topic, type(err).__name__, str(err)[:200])
                continue
            if newest_t is None or ev.t > newest_t:
                newest_t = ev.t
            for dated in self.state.take_redated():  # orders dated by this (late) signal
                changed = True
                fold(self.pending, dated)
            if new is not None:
                changed = True
                fold(self.pending, new)
        if changed and self.pending.since is None:
            self.pending.since = batch.received
        self.metrics.count(batch.topic, len(batch.events) - (invalid - batch.invalid), newest_t)
        if invalid:
            self.metrics.invalid.labels(batch.topic).inc(invalid)

    async def _consume(self) -> None:
        while True:
            batch = await self.feed.queue.get()
            self.metrics.feed_queue.set(self.feed.queue.qsize())
            self.apply_batch(batch)
            await asyncio.sleep(0)  # let browsers be served between batches of a replay

    # --- output -----------------------------------------------------------------------------
    def summaries(self) -> dict[str, dict]:
        return {w: self.aggregator.summary(w) for w in (SESSION, *self.opts.windows)}

    def config(self) -> dict:
        return {"windows": [SESSION, *self.opts.windows], "flink_url": self.flink_url,
                "flink_port": self.settings.flink_rest_port, "backend": self.backend.name,
                "limits": self.opts.limits.__dict__, "started_at": self.started_at,
                "tick_seconds": self.opts.tick, "indicators": self.indicators}

    def snapshot_dict(self) -> dict:
        return {"type": "snapshot", "seq": self.seq, "t": time.time(), "config": self.config(),
                **self.state.snapshot(), "summary": self.summaries(), "status": self.status}

    def snapshot_message(self) -> str:
        # Many browsers connecting at once share one serialisation per seq.
        if self._snapshot_cache is None or self._snapshot_cache[0] != self.seq:
            self._snapshot_cache = (self.seq, json.dumps(self.snapshot_dict(), separators=(",", ":")))
        return self._snapshot_cache[1]

    def build_delta(self, with_summary: bool, with_status: bool) -> dict | None:
        pending = self.pending
        msg: dict[str, Any] = pending.records()
        if pending.sentiment:
            msg["sentiment"] = self.state.sentiment()
        if pending.provenance:
            pending.provenance = False
            prov = self.state.provenance()
            if prov != self._provenance_sent:
                msg["provenance"] = self._provenance_sent = prov
        if with_summary:
            msg["summary"] = self.summaries()
        if with_status:
            msg["status"] = self.status
        if not msg:
            return None
        now = time.time()
        # The wall clock can step back between reading a batch and sending it (NTP on a VM);
        # a delta never claims its records arrived after it was sent.
        t_in = now if pending.since is None else min(pending.since, now)
        self.pending = Pending(self.opts.limits)
        self.seq += 1
        msg.update({"type": "delta", "seq": self.seq, "t": now, "t_in": t_in})
        return msg

    async def _ticker(self) -> None:
        last_summary = last_status_sent = 0.0
        while True:
            await asyncio.sleep(self.opts.tick)
            now = time.monotonic()
            self.metrics.state_records.set(self.state.size())
            with_summary = self._summary_dirty and now - last_summary >= self.opts.summary_interval
            with_status = self._status_fresh and now - last_status_sent >= self.opts.status_interval
            delta = self.build_delta(with_summary, with_status)
            if with_summary:
                last_summary, self._summary_dirty = now, False
            if with_status:
                last_status_sent, self._status_fresh = now, False
            if delta is not None:
                self.hub.broadcast(json.dumps(delta, separators=(",", ":")))
            else:
                self.hub.update_gauges()

    async def refresh_status(self) -> dict:
        loop = asyncio.get_running_loop()
        from tradeflow.trading.killswitch import kill_switch_state

        kill = await loop.run_in_executor(None, lambda: kill_switch_state(self.settings).to_dict())
        account = await loop.run_in_executor(
            None, _safe_read_account, self.settings.path("paper-broker.json"))
        assert self._http is not None
        flink = await flink_status(self._http, self.flink_url)
        self.status = {"kill_switch": kill, "flink": flink, "account": account,
                       "feed": self.feed.status(), "healthy": self.feed.healthy(),
                       "clients": len(self.hub.clients), "rates": self.record_rate.sample(),
                       "dropped": self.hub.dropped, "slow_disconnects": self.hub.slow_disconnects,
                       "as_of": time.time()}
        self._status_fresh = True
        return self.status

    async def _status_loop(self) -> None:
        while True:
            try:
                await self.refresh_status()
            except Exception:  # noqa: BLE001 - the page shows the last good status
                log.exception("status refresh failed")
            await asyncio.sleep(self.opts.status_interval)

    # --- lifecycle --------------------------------------------------------------------------
    async def on_startup(self, _app: web.Application) -> None:
        self._http = aiohttp.ClientSession()
        self.feed.start_threads(asyncio.get_running_loop())
        self._tasks = [asyncio.create_task(self._consume(), name="dashboard-consume"),
                       asyncio.create_task(self._ticker(), name="dashboard-ticker"),
                       asyncio.create_task(self._status_loop(), name="dashboard-status")]
        log.info("dashboard reading %s (%s backend): %s", ", ".join(self.feed.topics), self.backend.name,
                 self.start_note)

    async def on_shutdown(self, _app: web.Application) -> None:
        await self.hub.close_all()

    async def on_cleanup(self, _app: web.Application) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await asyncio.get_running_loop().run_in_executor(None, self.feed.stop)
        if self._http is not None:
            await self._http.close()

    # --- routes -----------------------------------------------------------------------------
    async def index(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def api_summary(self, request: web.Request) -> web.Response:
        window = request.query.get("window", SESSION)
        try:
            body = self.aggregator.summary(window)
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response(body)

    async def api_snapshot(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.snapshot_message(), content_type="application/json")

    async def healthz(self, _request: web.Request) -> web.Response:
        ok = self.feed.healthy()
        body = {"status": "ok" if ok else "unhealthy", "subscriptions": self.feed.status(),
                "clients": len(self.hub.clients), "backend": self.backend.name,
                "uptime_s": round(time.time() - self.started_at, 1)}
        return web.json_response(body, status=200 if ok else 503)

    async def metrics_route(self, _request: web.Request) -> web.Response:
        self.hub.update_gauges()
        self.metrics.feed_queue.set(self.feed.queue.qsize())
        for topic in self.feed.health:
            self.metrics.feed_up.labels(topic).set(1 if self.feed.status()[topic]["alive"] else 0)
        return web.Response(body=self.metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})


DASHBOARD = web.AppKey("dashboard", Dashboard)


def make_app(dashboard: Dashboard) -> web.Application:
    app = web.Application(middlewares=[middleware(dashboard.access)])
    app[DASHBOARD] = dashboard
    app.on_startup.append(dashboard.on_startup)
    app.on_shutdown.append(dashboard.on_shutdown)
    app.on_cleanup.append(dashboard.on_cleanup)
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/", dashboard.index)
    app.router.add_get("/ws", dashboard.hub.handle)
    app.router.add_get("/api/summary", dashboard.api_summary)
    app.router.add_get("/api/snapshot", dashboard.api_snapshot)
    app.router.add_get("/healthz", dashboard.healthz)
    app.router.add_get("/metrics", dashboard.metrics_route)
    app.router.add_static("/static/", STATIC, append_version=False)
    return app


async def start_server(dashboard: Dashboard, host: str = "127.0.0.1",
                       port: int = 0) -> tuple[web.AppRunner, int]:
    """Run the app in the current event loop (tests, benchmark, screenshot); returns the runner
    (call `cleanup()` to stop) and the port actually bound (port 0 = any free one)."""
    runner = web.AppRunner(make_app(dashboard), access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    dashboard.access.bind(host, bound)
    return runner, bound
