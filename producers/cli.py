"""`tradeflow produce ...`: push prices and news into the topics."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from tradeflow.cli import interruptible
from tradeflow.config import NEWS, PRICES, get_settings
from tradeflow.contracts import SYMBOL_RE
from tradeflow.observability import Health, serve
from tradeflow.trading.calendar import MAX_YEAR, MIN_YEAR
from tradeflow.topics import open_backend
from tradeflow.topics.positions import write_atomic

from .market_sim import MarketSimulator, SimConfig
from .pacing import Pacer, WallClock
from .progress import Progress
from .replay import replay
from .sink import Publisher

log = logging.getLogger("producers")


def _stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def publisher_for(component: str) -> Iterator[Publisher]:
    """A publisher on the configured backend; Ctrl-C or SIGTERM stops cleanly, flushing first.
    With `produce --metrics-port`, /metrics and /healthz are served while it lives."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    s = get_settings()
    backend = open_backend()
    pub = Publisher(backend, component, Progress(component), stale_after=s.feed_stale_seconds)
    health = Health()
    health.add("feed", pub.feed.problem)
    ctx = click.get_current_context(silent=True)
    server = None
    try:
        with interruptible(log):
            server = serve(ctx.meta.get(METRICS_PORT, 0) if ctx else 0, health, s.metrics_host)
            yield pub
    finally:
        pub.close()
        backend.close()
        if server:
            server.close()


def _zoned_time(_ctx: click.Context, _p: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time: {value!r}") from None
    if t.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2024-01-02T14:30:00Z")
    try:
        year = t.astimezone(timezone.utc).year
    except OverflowError:
        year = t.year
    if not MIN_YEAR <= year <= MAX_YEAR or not MIN_YEAR <= t.year <= MAX_YEAR:
        # the simulator's trading calendar (and Alpaca's history) covers no more
        raise click.BadParameter(f"{value!r} is out of range: give a time in {MIN_YEAR}..{MAX_YEAR}")
    return t


def _symbols(option: str | None, default: str) -> list[str]:
    """--symbols (or TRADEFLOW_SYMBOLS), upper-cased, each a ticker (`../x` is refused)."""
    names = [x.strip().upper() for x in (option or default).split(",") if x.strip()]
    hint = "--symbols" if option else "TRADEFLOW_SYMBOLS"
    bad = [n for n in names if not SYMBOL_RE.match(n)]
    if bad:
        raise click.BadParameter(f"not a ticker symbol (1-5 letters, optionally .A/.AB): "
                                 f"{', '.join(repr(b) for b in bad)}", param_hint=hint)
    if not names:
        raise click.BadParameter("no symbol given", param_hint=hint)
    return names


METRICS_PORT = "producers.metrics_port"


@click.group("produce")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Serve Prometheus metrics on http://HOST:PORT/metrics and health on /healthz "
                   "(HOST: $TRADEFLOW_METRICS_HOST; 0 = off).")
@click.pass_context
def produce(ctx: click.Context, metrics_port: int) -> None:
    """Publish prices and news to the `stock-prices` and `market-news` topics."""
    ctx.meta[METRICS_PORT] = metrics_port


@produce.command("sim")
@click.option("--symbols", help="Comma-separated symbols (default: $TRADEFLOW_SYMBOLS).")
@click.option("--seed", type=int, help="Random seed (default: $TRADEFLOW_SIM_SEED). Same seed, same data.")
@click.option("--speed", type=click.FloatRange(min=0),
              help="Simulated seconds per wall second; 0 = as fast as possible "
                   "(default: $TRADEFLOW_SIM_SPEED).")
@click.option("--bars", type=click.IntRange(min=1), help="Stop after this many bars per symbol.")
@click.option("--start", callback=_zoned_time, help="Event time of the first bar, ISO-8601 with zone "
              "(default: now).")
@click.option("--live", is_flag=True,
              help="Real time: bars stamped with the wall clock, each published right after it "
                   "ends, around the clock (no market calendar); --speed and --start do not apply.")
@click.option("--history-bars", type=click.IntRange(min=0), default=120, show_default=True,
              help="With --live: bars that end before now, published at once first, so the "
                   "indicators are warm when the live bars begin.")
def sim_cmd(symbols: str | None, seed: int | None, speed: float | None, bars: int | None,
            start: datetime | None, live: bool, history_bars: int) -> None:
    """Simulated 1-minute bars (GBM with regime shifts) and headlines tied to the moves."""
    s = get_settings()
    names = _symbols(symbols, s.symbols)
    seed = s.sim_seed if seed is None else seed
    pacer: Pacer | WallClock
    if live:
        if speed is not None or start is not None:
            raise click.UsageError("--live runs in real time from now: drop --speed and --start")
        config = SimConfig(session_only=False)
        now = datetime.now(timezone.utc)
        sim = MarketSimulator(names, seed=seed, config=config,
                              start=now - timedelta(seconds=config.bar_seconds * history_bars))
        pacer = WallClock(config.bar_seconds)
        state_file = None  # a live simulation never repeats: its bars are stamped from now
    else:
        sim = MarketSimulator(names, seed=seed, start=start)
        pacer = Pacer(s.sim_speed if speed is None else speed)
        state_file = s.path("producers", "sim.json")
    with publisher_for("producer-sim") as pub:
        run_simulator(sim, pacer, pub, bars, state_file, s.clock_heartbeat_seconds)


def run_simulator(sim: MarketSimulator, pacer: Pacer | WallClock, pub: Publisher,
                  bars: int | None, state_file: Path | None = None,
                  heartbeat_every: float = 1.0) -> None:
    """Publish bar after bar, each minute's news first (news inside a bar is known by its end),
    then a clock (Publisher.clock) unless catching up, and a clock at the end. With a state file,
    a restart of the same simulation (same seed, symbols, start) skips what it already
    published, so the topics get no repeated history."""
    saved = json.loads(state_file.read_text()) if state_file and state_file.exists() else {}
    done_until = (datetime.fromisoformat(saved["last_bar_end"])
                  if saved.get("sim") == sim.identity else None)
    if done_until:
        log.info("resuming the simulation after %s", done_until.isoformat())
    n, last = 0, None
    try:
        for t, price_bars, news in sim:
            if done_until and t <= done_until:
                continue
            pacer.wait(t, pub.heartbeat, heartbeat_every)
            pub.publish(NEWS, news)
            pub.publish(PRICES, price_bars)
            last = t
            if not pacer.behind(t):
                pub.clock(t)
            if state_file:
                write_atomic(state_file, json.dumps({"sim": sim.identity,
                                                     "last_bar_end": t.isoformat()}).encode())
            n += 1
            if bars is not None and n >= bars:
                break
    finally:
        if last is not None and pub.last_clock != last:
            pub.clock(last)


@produce.command("replay")
@click.option("--prices", "prices", multiple=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Price CSV (repeatable). Formats are detected from the header.")
@click.option("--news", "news", multiple=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="News CSV (repeatable).")
@click.option("--speed", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Event-time seconds per wall second; 0 = as fast as possible.")
def replay_cmd(prices: tuple[Path, ...], news: tuple[Path, ...], speed: float) -> None:
    """Replay real data files in event-time order.

    Price formats: normalized `symbol,timestamp,open,high,low,close,volume` (timestamp ISO-8601
    with zone, bar end), LEAN minute/daily bars, Kaggle S&P 500 daily, Yahoo daily (symbol from
    the file name). News formats: normalized, analyst ratings, StockNet tweets. Rows that cannot
    be read go to `dead-letter` with the file, line and reason.
    """
    if not prices and not news:
        raise click.UsageError("give at least one --prices or --news file")
    with publisher_for("producer-replay") as pub:
        try:
            replay(pub, list(prices), list(news), speed,
                   heartbeat_every=get_settings().clock_heartbeat_seconds)
        except ValueError as err:  # an unknown file format: nothing sensible to publish
            raise click.ClickException(str(err)) from None


@produce.command("alpaca")
@click.option("--symbols", help="Comma-separated symbols (default: $TRADEFLOW_SYMBOLS).")
@click.option("--poll", type=click.FloatRange(min=0, min_open=True),
              help="Seconds between polls (default: $TRADEFLOW_ALPACA_POLL_SECONDS).")
@click.option("--since", callback=_zoned_time, help="Fetch from this time, ISO-8601 with zone "
              "(default: 15 minutes ago for bars, 24 hours ago for news).")
@click.option("--feed", type=click.Choice(["iex", "sip"]), default="iex", show_default=True,
              help="Bar feed: `iex` (free plan) or `sip` (all US exchanges, paid plan).")
@click.option("--once", is_flag=True, help="One poll cycle, then exit (for cron and tests).")
def alpaca_cmd(symbols: str | None, poll: float | None, since: datetime | None, feed: str,
               once: bool) -> None:
    """Live 1-minute bars and news from Alpaca's market-data API (needs Alpaca keys).

    Publishes completed bars only (event time = bar end) and each bar and story once; records
    that break the contracts go to `dead-letter`.
    """
    from .alpaca import AlpacaDataClient, AlpacaError, AlpacaProducer, run  # needs requests

    s = get_settings()
    if not s.alpaca_enabled:
        raise click.ClickException("Alpaca keys are not set: export APCA_API_KEY_ID and "
                                   "APCA_API_SECRET_KEY (APCA_API_DATA_URL picks the endpoint).")
    names = [x.strip().upper() for x in (symbols or s.symbols).split(",") if x.strip()]
    assert s.apca_api_key_id and s.apca_api_secret_key  # alpaca_enabled, for the type checker
    client = AlpacaDataClient(s.apca_api_data_url, s.apca_api_key_id, s.apca_api_secret_key)
    try:
        producer = AlpacaProducer(client, names, feed=feed, bars_since=since, news_since=since)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--symbols") from None
    try:
        with publisher_for("producer-alpaca") as pub:
            run(producer, pub, s.alpaca_poll_seconds if poll is None else poll, once=once,
                heartbeat_every=s.clock_heartbeat_seconds)
    except AlpacaError as err:
        raise click.ClickException(str(err)) from None
    finally:
        client.close()
