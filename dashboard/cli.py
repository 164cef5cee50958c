"""`tradeflow dashboard`: the live web dashboard (page, websocket, summary API, health, metrics)."""

from __future__ import annotations

import logging
import signal

import click
from pydantic import ValidationError

from tradeflow.config import get_settings
from tradeflow.logs import register_settings, setup_logging
from tradeflow.topics import BackendError, open_backend

from .aggregator import parse_window
from tradeflow.config import DashboardSettings, get_dashboard_settings
from .feed import resolve_start
from .snapshot import Limits

log = logging.getLogger("dashboard")


def _windows(_ctx: click.Context, _p: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(w.strip() for w in value.split(",") if w.strip() and w.strip() != "session")
    for w in names:
        try:
            parse_window(w)
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
    return names


def _start(_ctx: click.Context, _p: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            resolve_start(value)
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
    return value


@click.command("dashboard")
@click.option("--host", help="Listen address (default: $TRADEFLOW_DASHBOARD_HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535),
              help="Listen port (default: $TRADEFLOW_DASHBOARD_PORT or 8000).")
@click.option("--start", callback=_start, metavar="LOOKBACK|earliest|latest",
              help="Where to begin reading the topics: a look-back such as 30m, 6h or 2d shows "
                   "the records appended since then (by whole segments on the file backend), "
                   "`earliest` replays everything they hold, `latest` shows new records only "
                   "(default: $TRADEFLOW_DASHBOARD_LOOKBACK or 24h).")
@click.option("--bars", type=click.IntRange(10, 5000), default=390, show_default=True,
              help="Bars kept and charted per symbol.")
@click.option("--windows", default="15m,1h", show_default=True, callback=_windows,
              help="Summary windows pushed to the page besides the session (event time).")
@click.option("--flink-url", help="Flink REST API / web UI "
              "(default: http://localhost:$TRADEFLOW_FLINK_PORT).")
def dashboard(host: str | None, port: int | None, start: str | None, bars: int,
              windows: tuple[str, ...], flink_url: str | None) -> None:
    """Live dashboard: candles with indicators, signals, orders, P&L, kill switch, Flink job.

    Subscribes to stock-prices, market-news, trading-signals and orders as its own consumer group
    (never committed: each start replays, into a bounded window, what was appended to the topics
    in the last 24 hours, or as --start says) and pushes updates to browsers over a websocket.
    Serves GET / (the page), /ws, /api/summary?window=15m, /healthz and /metrics.
    """
    from aiohttp import web

    from tradeflow.strategy import StrategyError

    from .server import Dashboard, Options, make_app

    shared = get_settings()
    try:  # --host is validated as the setting would be (a token when not on loopback)
        ds = (DashboardSettings(TRADEFLOW_DASHBOARD_HOST=host) if host
              else get_dashboard_settings())
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(x) for x in e["loc"])
        raise click.ClickException((f"{where}: " if where else "")
                                   + e["msg"].removeprefix("Value error, ")) from None
    if not logging.getLogger().handlers:  # run on its own, not under `tradeflow`
        setup_logging(shared.log_level, "dashboard")
    register_settings(shared)  # masked in what browsers get, if an error ever quotes one
    host = ds.dashboard_host
    port = ds.dashboard_port if port is None else port
    try:
        backend = open_backend(settings=shared)
    except BackendError as err:
        raise click.ClickException(str(err)) from None
    opts = Options(limits=Limits(bars_per_symbol=bars), windows=windows,
                   start=ds.dashboard_lookback if start is None else start,
                   flink_url=flink_url, allowed_origins=ds.origin_list, token=ds.token)
    try:
        dash = Dashboard(backend, shared, opts)
    except StrategyError as err:
        backend.close()
        raise click.ClickException(str(err)) from None
    dash.access.bind(host, port)
    app = make_app(dash)

    def _stop(*_: object) -> None:
        raise web.GracefulExit()

    signal.signal(signal.SIGTERM, _stop)
    log.info("dashboard on http://%s:%d/ (backend %s, data dir %s)", host, port, backend.name,
             shared.path())
    try:
        web.run_app(app, host=host, port=port, print=None, handle_signals=True, access_log=None,
                    shutdown_timeout=3)
    except OSError as err:
        raise click.ClickException(f"cannot listen on {host}:{port}: {err}") from None
    finally:
        backend.close()
