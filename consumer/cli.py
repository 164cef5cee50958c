"""`tradeflow consume` (the signal consumer, its kill switch) and `tradeflow audit` (the trail)."""

from __future__ import annotations

import fcntl
import json
import logging
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import click

from tradeflow import durations
from tradeflow.cli import interruptible
from tradeflow.config import PRICES, SIGNALS, BrokerChoice, get_consumer_settings, get_settings
from tradeflow.logs import register_settings, setup_logging
from tradeflow.observability import FeedWatch, Health, serve
from tradeflow.topics import BackendError, open_backend
from tradeflow.trading import audit as audit_trail
from tradeflow.trading.killswitch import KillSwitch

log = logging.getLogger("consumer")


def _settings() -> tuple:
    shared = get_settings()
    if not logging.getLogger().handlers:  # run on its own, not under `tradeflow`
        setup_logging(shared.log_level, "consumer")
    cs = get_consumer_settings()
    register_settings(shared, cs)  # secrets from a .env file too, not only the environment
    return shared, cs


def _stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def _single_instance(db: Path) -> Iterator[None]:
    """One consumer per audit database: two would decide the same signals side by side."""
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        f = open(db.with_name(db.name + ".lock"), "a")
    except OSError as err:
        raise click.ClickException(f"cannot write the consumer's state in {db.parent}: "
                                   f"{err.strerror}") from None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise click.ClickException(f"another consumer is running on {db}") from None
        yield


def _summary(stats: Counter[str]) -> str:
    decided = sum(n for k, n in stats.items() if k not in ("duplicate", "dead_letter", "error"))
    vetoes = ", ".join(f"{k} {n}" for k, n in sorted(stats.items())
                       if k not in ("approved", "duplicate", "dead_letter", "error"))
    return (f"decided {decided} signal(s): approved {stats['approved']}"
            f"{f', vetoed: {vetoes}' if vetoes else ''}; duplicates {stats['duplicate']}, "
            f"dead-lettered {stats['dead_letter'] + stats['error']}")


@click.group("consume", invoke_without_command=True)
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Process this file of signal records (JSON lines) instead of the topic.")
@click.option("--once", is_flag=True,
              help="Exit when there is nothing more to read (always so with --from).")
@click.option("--broker", type=click.Choice([b.value for b in BrokerChoice]),
              help="Where orders go (default: $TRADEFLOW_BROKER or auto).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Serve Prometheus metrics on http://HOST:PORT/metrics and health on /healthz "
                   "(HOST: $TRADEFLOW_METRICS_HOST; 0 = off).")
@click.pass_context
def consume(ctx: click.Context, from_file: Path | None, once: bool, broker: str | None,
            metrics_port: int) -> None:
    """Risk-check trading signals and place paper orders (Alpaca paper account or simulator).

    Reads `trading-signals` as consumer group "consumer" from its saved position, publishes
    each order's status changes to `orders`, notifies Slack (or the console) and records
    everything in the audit trail. Kill it at any moment: a restart neither loses nor repeats
    a signal. `tradeflow consume kill` stops all new orders at once.
    """
    if ctx.invoked_subcommand is not None:
        return
    from .service import ConfigError, build_consumer

    shared, cs = _settings()
    if broker:
        cs = cs.with_values(broker=broker)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # The signals are sparse; the bars (and the producers' clocks between them) are the pulse.
    feeds = {t: FeedWatch(t, shared.feed_stale_seconds) for t in (PRICES, SIGNALS)}
    health = Health()
    health.add("feed", feeds[PRICES].problem)
    server = None if from_file else serve(metrics_port, health, shared.metrics_host)
    with _single_instance(cs.audit_path(shared)), server or nullcontext():
        try:
            backend = open_backend(settings=shared)
        except BackendError as err:
            raise click.ClickException(str(err)) from None
        try:
            consumer = build_consumer(shared, cs, backend)
        except ConfigError as err:
            backend.close()
            raise click.ClickException(str(err)) from None
        stats: Counter[str] = consumer.stats
        try:
            with interruptible(log):
                stats = (consumer.run_file(from_file) if from_file else
                         consumer.run(once=once, poll_timeout=0.2 if once else 1.0, feeds=feeds))
        finally:
            consumer.close()
            backend.close()
        click.echo(_summary(stats), err=True)


def _kill_switch() -> KillSwitch:
    shared, cs = _settings()
    return KillSwitch(cs.kill_path(shared))


@consume.command("kill")
@click.option("--reason", default="", help="Why (shown on the dashboard and in Slack).")
def kill_cmd(reason: str) -> None:
    """Engage the kill switch: no new order from now on, in every consumer."""
    state = _kill_switch().engage(reason, by="cli")
    click.echo(f"kill switch ENGAGED ({state.path}): {state.reason}")


@consume.command("resume")
def resume_cmd() -> None:
    """Release the kill switch: orders are allowed again."""
    state = _kill_switch().release()
    click.echo(f"kill switch released ({state.path})")


@consume.command("status")
def status_cmd() -> None:
    """Kill switch state, orders in flight and, for the built-in paper broker, the account."""
    shared, cs = _settings()
    out: dict = {"kill_switch": KillSwitch(cs.kill_path(shared)).state().to_dict()}
    paper = shared.path("paper-broker.json")
    if paper.exists():
        from tradeflow.trading.executors.paper import PaperBroker, PaperStateError

        try:
            out["paper_account"] = {k: round(v, 2)
                                    for k, v in PaperBroker(paper).summary().items()}
        except PaperStateError as err:
            out["paper_account"] = {"error": str(err)}
    db = cs.audit_path(shared)
    if db.exists():
        out["recent_decisions"] = [
            {k: e[k] for k in ("time", "symbol", "rule", "signal_id")}
            for e in audit_trail.query(db, kind="decision", limit=5)]
    click.echo(json.dumps(out, indent=2))


# --- audit ----------------------------------------------------------------------------------
def _since(_ctx: click.Context, _p: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    if durations.is_duration(value):
        try:
            return durations.ago(value)
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("give an ISO-8601 time or an age like 30m, 2h, 1d") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _filters(f):  # noqa: ANN001 - a click decorator stack
    f = click.option("--since", callback=_since, help="Only events since an ISO-8601 time or an "
                     "age (30m, 2h, 1d).")(f)
    f = click.option("--kind", type=click.Choice(audit_trail.KINDS), help="Only this kind.")(f)
    f = click.option("--symbol", help="Only this symbol.")(f)
    f = click.option("--signal", "signal_id", help="Only events of this signal id.")(f)
    return f


def _db() -> Path:
    shared, cs = _settings()
    db = cs.audit_path(shared)
    if not db.exists():
        raise click.ClickException(f"no audit trail yet at {db}")
    return db


@click.group("audit", invoke_without_command=True)
@click.pass_context
def audit(ctx: click.Context) -> None:
    """The consumer's audit trail: every signal, risk decision, order request, broker response
    and fill (SQLite, append-only). Without a subcommand: the latest 50 events."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd, limit=50)


@audit.command("list")
@_filters
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show the latest N matching events.")
def list_cmd(limit: int, symbol: str | None = None, kind: str | None = None,
             since: datetime | None = None, signal_id: str | None = None) -> None:
    """List events, oldest first."""
    events = audit_trail.query(_db(), symbol=symbol, kind=kind, since=since,
                               signal_id=signal_id, limit=limit)
    for e in events:
        detail = e["detail"] if len(e["detail"]) <= 100 else e["detail"][:97] + "..."
        click.echo(f"{e['id']:>6} {e['time']} {e['kind']:<15} {e['symbol'] or '-':<6} "
                   f"{e['rule'] or '-':<18} {e['signal_id'] or '-'}  {detail}")
    if not events:
        click.echo("no matching events", err=True)


@audit.command("export")
@_filters
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output.")
def export_cmd(fmt: str, output: Path | None, symbol: str | None = None, kind: str | None = None,
               since: datetime | None = None, signal_id: str | None = None) -> None:
    """Export events as CSV or JSON lines."""
    events = audit_trail.query(_db(), symbol=symbol, kind=kind, since=since, signal_id=signal_id)
    lines = audit_trail.to_csv(events) if fmt == "csv" else audit_trail.to_jsonl(events)
    try:
        out: IO[str] = open(output, "w", newline="") if output else sys.stdout
    except OSError as err:
        raise click.ClickException(f"cannot write {output}: {err.strerror}") from None
    try:
        for chunk in lines:
            out.write(chunk)
    finally:
        if output:
            out.close()
    if output:
        click.echo(f"{len(events)} event(s) written to {output}", err=True)
