"""The `tradeflow` command. Services add their subcommands through the `tradeflow.commands`
entry-point group (see pyproject.toml), so this package never imports a service."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

import click

from tradeflow.config import BackendName, get_settings, settings_markdown
from tradeflow.logs import setup_logging

class ServiceGroup(click.Group):
    """A click group whose commands come from installed entry points, loaded on demand."""

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
    # Set through the environment so child processes (the pipeline's services) inherit them.
    if backend:
        os.environ["TRADEFLOW_BACKEND"] = backend
    if data_dir:
        os.environ["TRADEFLOW_DATA_DIR"] = str(data_dir.resolve())
    get_settings.cache_clear()
    setup_logging(get_settings().log_level)


@cli.command("config")
@click.option("--markdown", is_flag=True, help="Print the table of every setting (for the README).")
def config_cmd(markdown: bool) -> None:
    """Show the effective configuration (secrets masked)."""
    if markdown:
        click.echo(settings_markdown())
        return
    s = get_settings()
    for name, value in s.model_dump().items():
        click.echo(f"{name} = {value}")  # SecretStr prints as ********


@cli.command("run")
def run_cmd() -> None:
    """Run the whole pipeline (Flink cluster, job, producers, consumer, dashboard) until Ctrl-C."""
    from tradeflow.supervisor import run_pipeline

    sys.exit(run_pipeline(get_settings()))


def main() -> None:
    cli(prog_name="tradeflow")


if __name__ == "__main__":
    main()
