"""`tradeflow flink start|stop|status`: the local Flink standalone cluster."""

from __future__ import annotations

import json

import click

from tradeflow.cli import require_flink
from tradeflow.config import get_settings


def _local_cluster():
    # The cluster runs from PyFlink's distribution: imported here, after the check, so that
    # these commands list and show their help without the flink extra.
    require_flink()
    from .cluster import LocalCluster

    return LocalCluster.from_settings(get_settings())


@click.group("flink")
def flink() -> None:
    """Start, stop and inspect the local Flink cluster (web UI on :8081 by default)."""


@flink.command("start")
@click.option("--timeout", type=float, default=90.0, show_default=True,
              help="Seconds to wait for the JobManager and a TaskManager to come up.")
def start(timeout: float) -> None:
    """Start a JobManager and a TaskManager configured by infra/flink/config.yaml, on 127.0.0.1."""
    cluster = _local_cluster()
    from .cluster import ClusterError

    try:
        cluster.start(timeout)
    except ClusterError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"Flink is up: {cluster.url} (logs in {cluster.log_dir})")


@flink.command("stop")
def stop() -> None:
    """Stop exactly the Flink processes `tradeflow flink start` started."""
    ended = _local_cluster().stop()
    click.echo(f"stopped Flink processes {ended}" if ended else "no tradeflow Flink process was running")


@flink.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Whether the cluster is up, its processes, and the state of each job."""
    st = _local_cluster().status()
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    click.echo(f"Flink {'UP' if st['up'] else 'DOWN'} at {st['url']}  pids={st['pids']}  "
               f"taskmanagers={st['taskmanagers']} free slots={st['slots_available']}")
    for job in st["jobs"]:
        click.echo(f"  {job['state']:<10} {job['name']}  ({job['id']})")


@click.group("job")
def job() -> None:
    """The streaming signal job on the local Flink cluster."""


@job.command("submit")
@click.option("--parallelism", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--fresh", is_flag=True, help="Ignore retained checkpoints and start from the beginning.")
def submit(parallelism: int, fresh: bool) -> None:
    """Submit the signal job (SQL in sql/) to the running local cluster.

    Reads `stock-prices` and `market-news`, writes `trading-signals` on the selected backend.
    Resumes from the newest retained checkpoint unless --fresh, so a restarted pipeline neither
    reprocesses old input nor emits its signals again.
    """
    require_flink()
    from .submit import SubmitError, submit_signal_job

    try:
        click.echo(submit_signal_job(get_settings(), parallelism, fresh))
    except SubmitError as err:
        raise click.ClickException(str(err)) from None
