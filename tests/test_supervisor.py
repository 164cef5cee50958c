"""`tradeflow run` without a JVM: which services it starts for each backend and producer, how it
checks the producer's options before starting anything, and how it treats a producer that
ends and a oneshot that fails (with stand-in processes)."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tradeflow import supervisor
from tradeflow.cli import cli
from tradeflow.config import forget_settings, get_settings
from tradeflow.processes import free_port
from tradeflow.supervisor import Service, metrics_ports, pipeline, run_pipeline


def names(services: tuple[Service, ...]) -> list[str]:
    return [s.name for s in services]


def test_file_backend_runs_the_simulator_by_default(settings, monkeypatch):
    base = free_port()
    monkeypatch.setenv("TRADEFLOW_METRICS_PORT_BASE", str(base))
    get_settings.cache_clear()
    services = pipeline(get_settings())
    assert names(services) == ["flink", "job", "producer", "consumer", "dashboard"]
    producer, consumer = services[2:4]
    # Each long-running service serves /metrics and /healthz on a port of its own.
    ports = [int(producer.args[2]), int(consumer.args[2])]
    assert producer.args == ("produce", "--metrics-port", str(ports[0]), "sim")
    assert producer.may_finish
    assert consumer.args == ("consume", "--metrics-port", str(ports[1]))
    assert ports[0] >= base and ports[1] > ports[0]
    assert [producer.metrics, consumer.metrics, services[4].metrics] == [
        f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", "http://127.0.0.1:8000"]


@pytest.mark.integration
def test_metrics_ports_skip_ports_in_use(settings, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("TRADEFLOW_METRICS_PORT_BASE", str(port))
        get_settings.cache_clear()
        assert port not in metrics_ports(get_settings())


def test_kafka_backend_starts_and_stops_the_local_broker_first(settings, monkeypatch):
    monkeypatch.setenv("TRADEFLOW_BACKEND", "kafka")
    monkeypatch.delenv("TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    get_settings.cache_clear()
    kafka, flink = pipeline(get_settings())[:2]
    assert (kafka.args, kafka.stop_args, kafka.oneshot) == (("kafka", "start"), ("kafka", "stop"), True)
    assert flink.name == "flink"
    # A given cluster is used as it is: nothing to start or stop.
    monkeypatch.setenv("TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", "redpanda-0:9092")
    get_settings.cache_clear()
    assert "kafka" not in names(pipeline(get_settings()))


def test_producer_choice_and_its_options(settings):
    replay = pipeline(settings, "replay", ("--prices", "a.csv", "--speed", "0"))
    assert replay[2].args[3:] == ("replay", "--prices", "a.csv", "--speed", "0")
    assert "producer" not in names(pipeline(settings, "none"))
    with pytest.raises(ValueError):
        pipeline(settings, "carrier-pigeon")


@pytest.fixture
def started(monkeypatch, settings) -> list[tuple]:
    """`tradeflow run` with run_pipeline recording the services instead of starting them."""
    calls: list[tuple] = []
    monkeypatch.setattr(supervisor, "run_pipeline", lambda s, services=None: calls.append(
        services) or 0)
    monkeypatch.delenv("TRADEFLOW_BACKEND", raising=False)
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    return calls


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("args, producer", [
    ((), ("produce", "sim")),
    (("--producer", "sim", "--", "--seed", "3", "--speed", "0"),
     ("produce", "sim", "--seed", "3", "--speed", "0")),
    (("--producer", "replay", "--", "--prices", "pyproject.toml"),
     ("produce", "replay", "--prices", "pyproject.toml")),
    # `--` may be left out: options run does not know go to the producer.
    (("--producer", "replay", "--prices", "pyproject.toml", "--speed", "0"),
     ("produce", "replay", "--prices", "pyproject.toml", "--speed", "0")),
    (("--producer", "none"), None),
])
def test_run_passes_the_producer_options_through(started, args, producer):
    result = invoke("run", *args)
    assert result.exit_code == 0, result.output
    (services,) = started
    # after `produce --metrics-port N`
    got = [(s.args[0], *s.args[3:]) for s in services if s.name == "producer"]
    assert got == ([producer] if producer else [])


@pytest.mark.parametrize("args, message", [
    (("--producer", "replay"), "needs at least one file"),
    (("--producer", "replay", "--", "--prices", "/no/such.csv"), "does not exist"),
    (("--producer", "sim", "--", "--sed", "3"), "No such option '--sed'"),
    (("--producer", "sim", "--", "--speed", "fast"), "'fast' is not a valid float"),
    (("--producer", "none", "--", "--speed", "0"), "takes no producer options"),
    (("--producer", "alpaca",), "needs the Alpaca keys"),
    (("--producer", "kinesis-firehose",), "Invalid value for '--producer'"),
])
def test_run_refuses_bad_producer_options_before_starting_anything(started, args, message):
    result = invoke("run", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert started == []


def test_run_help_documents_the_producer_options():
    text = invoke("run", "--help").output
    assert f"--producer [{'|'.join(supervisor.PRODUCERS)}]" in text
    assert "tradeflow run --producer replay -- --prices" in text


# --- the supervisor with stand-in processes ---------------------------------------------------

@pytest.fixture
def stand_ins(monkeypatch, tmp_path):
    """Services whose command is a tiny Python script: args[1] is its code."""
    monkeypatch.setattr(supervisor, "_command",
                        lambda args, settings: [sys.executable, "-c", args[1]])
    monkeypatch.setattr(supervisor, "_installed", lambda: {"produce", "consume"})
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield tmp_path
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_a_producer_that_ends_leaves_the_pipeline_running(stand_ins, settings, caplog):
    undone = stand_ins / "undone"
    services = (
        Service("broker", ("kafka", "pass"), oneshot=True,
                stop_args=("kafka", f"open({str(undone)!r}, 'w')")),
        Service("producer", ("produce", "pass"), may_finish=True),
        # Outlives the producer, then fails: run_pipeline must have kept going until then.
        Service("consumer", ("consume", "import time, sys; time.sleep(3); sys.exit(3)")),
    )
    with caplog.at_level(logging.INFO, logger="tradeflow.run"):
        assert run_pipeline(settings, services) == 1
    assert "producer finished" in caplog.text
    assert "consumer exited (code 3)" in caplog.text
    assert undone.exists()


def test_a_failed_oneshot_is_still_undone(stand_ins, settings, caplog):
    """A start command that fails half-way may have launched its process (a broker, a cluster):
    its stop command runs all the same."""
    undone = stand_ins / "undone"
    services = (Service("broker", ("kafka", "import sys; sys.exit(1)"), oneshot=True,
                        stop_args=("kafka", f"open({str(undone)!r}, 'w')")),
                Service("consumer", ("consume", "raise SystemExit('must not start')")))
    with caplog.at_level(logging.INFO, logger="tradeflow.run"):
        assert run_pipeline(settings, services) == 1
    assert "broker failed (exit 1)" in caplog.text and "consumer" not in caplog.text
    assert undone.exists()


def test_a_simulation_faster_than_real_time_widens_the_consumers_clock_skew(settings, monkeypatch):
    """The simulator's bars overtake the wall clock, past which the consumer refuses signals:
    the consumer of such a run takes a year's skew; a live simulation or a replay keeps the
    default, and so does a skew the user set."""
    monkeypatch.delenv("TRADEFLOW_RISK_MAX_CLOCK_SKEW_SECONDS", raising=False)

    def consumer_env(*args) -> dict:
        return dict(next(s for s in pipeline(settings, *args) if s.name == "consumer").env)

    assert float(consumer_env("sim")["TRADEFLOW_RISK_MAX_CLOCK_SKEW_SECONDS"]) >= 365 * 86_400
    assert consumer_env("sim", ("--live",)) == {}
    assert consumer_env("replay", ("--prices", "a.csv")) == {}
    monkeypatch.setenv("TRADEFLOW_RISK_MAX_CLOCK_SKEW_SECONDS", "120")
    forget_settings()
    assert consumer_env("sim") == {}


def test_services_get_the_backend_and_data_directory_as_flags(settings, tmp_path, monkeypatch):
    """`tradeflow --backend kafka --data-dir D run` hands both to every service on its command
    line: a child reading its settings sees them even where the environment says otherwise."""
    chosen = settings.with_values(backend="kafka", data_dir=tmp_path / "chosen")
    monkeypatch.setenv("TRADEFLOW_BACKEND", "kinesis")
    out = subprocess.run(supervisor._command(("config",), chosen), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert "TRADEFLOW_BACKEND=kafka" in out
    assert f"TRADEFLOW_DATA_DIR={tmp_path / 'chosen'}" in out
