"""The `tradeflow` command. Services add their subcommands through the `tradeflow.commands`
entry-point group (see pyproject.toml), so this package never imports a service."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path

import click
from dotenv import load_dotenv
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from tradeflow.config import (BackendName, get_settings, set_command_line, settings_lines,
                             settings_markdown)
from tradeflow.logs import setup_logging
from tradeflow.observability import ServeError
from tradeflow.trading.store import StoreError
from tradeflow.topics.base import BackendError
from tradeflow.topics.cli import topic


class SettingsError(click.ClickException):
    """A bad setting in the environment: one line naming the variable, exit code 2 (usage)."""

    exit_code = 2


def _settings_classes(cls: type = BaseSettings) -> set[str]:
    names: set[str] = set()
    for sub in cls.__subclasses__():
        names |= {sub.__name__} | _settings_classes(sub)
    return names


def settings_error(err: ValidationError) -> SettingsError | None:
    """The one-line error for a settings class's ValidationError (None for any other model's):
    `TRADEFLOW_BACKEND: Input should be 'file', 'kafka' or 'kinesis'`. The value is not shown
    (it may be a secret)."""
    if err.title not in _settings_classes():
        return None
    parts = []
    for e in err.errors():
        name = ".".join(str(x) for x in e["loc"]) or err.title
        msg = str(e["msg"]).removeprefix("Value error, ")
        if msg.startswith(f"{name} "):  # the validator already names the variable
            msg = msg[len(name) + 1:]
        parts.append(f"{name}: {msg}")
    return SettingsError("; ".join(parts))


def require_flink() -> None:
    """One line instead of an import error, for the commands that run Flink: checked before they
    start anything, because some import PyFlink only in child processes (the cluster, the job,
    the backtest's runs), where the error would be a traceback in a log."""
    if find_spec("pyflink") is None:
        raise click.ClickException("this command needs Apache Flink: pip install 'tradeflow[flink]'")


class ServiceGroup(click.Group):
    """A click group whose commands come from installed entry points, loaded on demand.

    Settings are read from the environment on first use, by this group's callback or a
    subcommand: a bad value anywhere is one line naming the variable (SettingsError), not
    pydantic's report and a traceback; so is an unreadable consumer database or a metrics port
    in use, in any command."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (StoreError, ServeError) as err:
            raise click.ClickException(str(err)) from None
        except ValidationError as err:
            nice = settings_error(err)
            if nice is None:
                raise
            raise nice from None

    def _entry_points(self) -> dict:
        return {ep.name: ep for ep in entry_points(group="tradeflow.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._entry_points()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        ep = self._entry_points().get(name)
        return ep.load() if ep is not None else None


@click.group(cls=ServiceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradeflow", prog_name="tradeflow")
@click.option("--backend", type=click.Choice([b.value for b in BackendName]),
              help="Topic backend for this command and every process it starts "
                   "(default: $TRADEFLOW_BACKEND or 'file').")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run-state directory (default: $TRADEFLOW_DATA_DIR or ./.tradeflow).")
def cli(backend: str | None, data_dir: Path | None) -> None:
    """tradeflow: a real-time trading-signal pipeline on Apache Flink.

    Prices and news flow into topics; a PyFlink SQL job computes indicators and sentiment and
    writes trading signals; a consumer risk-checks them and places paper orders.
    """
    # Precedence: these flags, then the environment, then ./.env, then the defaults. Loaded
    # into the environment, so the services `run` starts and the secret masking see it too.
    dotenv = Path.cwd() / ".env"
    if dotenv.is_file():
        load_dotenv(dotenv, override=False)
    set_command_line(backend=backend, data_dir=data_dir.resolve() if data_dir else None)
    setup_logging(get_settings().log_level)


@cli.command("config")
@click.option("--markdown", is_flag=True, help="Print the table of every setting (for the README).")
def config_cmd(markdown: bool) -> None:
    """Show every setting of every service as VARIABLE=value (secrets masked, unset empty)."""
    if markdown:
        click.echo(settings_markdown())
        return
    for line in settings_lines():
        click.echo(line)


@cli.group("kafka")
def kafka_group() -> None:
    """Start, stop and inspect the local single-node Kafka broker (KRaft, 127.0.0.1)."""


def _local_kafka():
    from tradeflow.topics.local_kafka import LocalKafka

    return LocalKafka.from_settings(get_settings())


@kafka_group.command("start")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for the broker to serve.")
def kafka_start(timeout: float) -> None:
    """Start the broker (data and logs under <data dir>/kafka) and create the project's topics."""
    from tradeflow.jvm import JvmPartMissing
    from tradeflow.topics.local_kafka import BrokerError

    try:
        click.echo(_local_kafka().start(timeout))
    except (BrokerError, JvmPartMissing) as err:
        raise click.ClickException(str(err)) from None


@kafka_group.command("stop")
def kafka_stop() -> None:
    """Stop exactly the broker `tradeflow kafka start` started."""
    pid = _local_kafka().stop()
    click.echo(f"stopped the Kafka broker (pid {pid})" if pid else "no tradeflow Kafka broker was running")


@kafka_group.command("status")
def kafka_status() -> None:
    """Whether the local broker runs, and where."""
    st = _local_kafka().status()
    state = "UP" if st["running"] and st["serving"] else "STARTING" if st["running"] else "DOWN"
    click.echo(f"Kafka {state} at {st['bootstrap_servers']}  pid={st['pid']}  data={st['home']}")
    if not st["running"]:
        sys.exit(3)


@cli.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--producer", type=click.Choice(["sim", "replay", "alpaca", "none"]),
              default="sim", show_default=True,
              help="What publishes prices and news: `tradeflow produce sim|replay|alpaca`, or "
                   "`none` (publish with a separate `tradeflow produce ...`).")
@click.argument("producer_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- PRODUCER_OPTIONS]")
@click.pass_context
def run_cmd(ctx: click.Context, producer: str, producer_args: tuple[str, ...]) -> None:
    """Run the whole pipeline until Ctrl-C: on the kafka backend a local Kafka broker (unless
    TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS names a cluster), the Flink cluster, the signal job, the
    producer, the consumer and the dashboard. Ctrl-C stops all of them.

    Options after `--` go to the producer, as to `tradeflow produce <producer>` (see
    `tradeflow produce <producer> --help`). A replay that ends leaves the pipeline running.

    \b
      tradeflow run                                      # the simulator, settings' defaults
      tradeflow run --producer sim -- --seed 3 --speed 60 --symbols AAPL,SPY
      tradeflow run --producer replay -- --prices bars.csv --news news.csv --speed 0
      tradeflow run --producer alpaca -- --feed iex      # needs the Alpaca keys
      tradeflow --backend kafka run --producer none      # then: tradeflow --backend kafka produce ...
    """
    from tradeflow.supervisor import pipeline, run_pipeline

    require_flink()
    _check_producer_options(ctx, producer, producer_args)
    settings = get_settings()
    sys.exit(run_pipeline(settings, pipeline(settings, producer, producer_args)))


def _check_producer_options(ctx: click.Context, producer: str, args: tuple[str, ...]) -> None:
    """Parse the producer's options now, with the producer's own command, so a mistake is
    reported before the broker, Flink and the job start (and not 30 s later in its log)."""
    if producer == "none":
        if args:
            raise click.UsageError(f"--producer none takes no producer options (got "
                                   f"{' '.join(args)})", ctx)
        return
    produce = cli.get_command(ctx, "produce")
    command = produce.get_command(ctx, producer) if isinstance(produce, click.Group) else None
    if command is None:  # the producers are not installed: the pipeline skips them
        return
    try:
        with command.make_context(f"tradeflow produce {producer}", list(args),
                                  parent=ctx.parent) as sub:
            params = sub.params
    except click.UsageError as err:
        raise click.UsageError(f"producer options: {err.format_message()}", ctx) from None
    if producer == "replay" and not (params.get("prices") or params.get("news")):
        raise click.UsageError("--producer replay needs at least one file: "
                               "tradeflow run --producer replay -- --prices FILE [--news FILE]", ctx)
    if producer == "alpaca" and not get_settings().alpaca_enabled:
        raise click.UsageError("--producer alpaca needs the Alpaca keys: export APCA_API_KEY_ID "
                               "and APCA_API_SECRET_KEY", ctx)


cli.add_command(topic)


def main() -> None:
    cli(prog_name="tradeflow")


if __name__ == "__main__":
    main()


@contextmanager
def interruptible(log: logging.Logger) -> Iterator[None]:
    """How a service's command ends: Ctrl-C (and SIGTERM, which the services raise as
    KeyboardInterrupt) stops it with a log line; a backend that fails ends it with the error's
    message instead of a traceback."""
    try:
        yield
    except KeyboardInterrupt:
        log.info("stopping (interrupted)")
    except BackendError as err:
        raise click.ClickException(str(err)) from None
