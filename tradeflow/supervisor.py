"""`tradeflow run`: start every service of the pipeline as a child process and stop them all.

The pipeline is: on the kafka backend without TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS, the local
Kafka broker; the local Flink cluster; the signal job; the chosen producer (sim, replay, alpaca
or none); the consumer; the dashboard. Services are `tradeflow` subcommands run in their own
process group, so Ctrl-C (or SIGTERM) reaches all of them and stopping one never leaves
grandchildren (Python UDF workers, JVMs) behind. Output of each service is shown with its name
in front and kept in <data dir>/logs. A service whose subcommand is not installed yet is listed
and skipped. Oneshots with a stop command (the broker, the cluster) are undone in reverse order
after the others stop, even when they failed or were interrupted half-way.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib.metadata import entry_points

from tradeflow.config import (BackendName, Settings, command_line_args, get_consumer_settings,
                              get_dashboard_settings)
from tradeflow.processes import port_in_use

log = logging.getLogger("tradeflow.run")


@dataclass(frozen=True)
class Service:
    name: str
    args: tuple[str, ...]
    oneshot: bool = False  # runs to completion before the next service starts
    stop_args: tuple[str, ...] | None = None  # a command that undoes a oneshot (flink stop)
    may_finish: bool = False  # a long-running service whose clean exit (0) is not a failure
    env: tuple[tuple[str, str], ...] = ()  # settings for this service only
    metrics: str | None = None  # the base URL of its /metrics and /healthz


PRODUCERS = ("sim", "replay", "alpaca", "none")
SIM_CLOCK_SKEW_SECONDS = 366 * 86_400
LOCAL_KAFKA = Service("kafka", ("kafka", "start"), oneshot=True, stop_args=("kafka", "stop"))


def metrics_ports(settings: Settings, n: int = 2) -> list[int]:
    """The first `n` ports from TRADEFLOW_METRICS_PORT_BASE that nothing listens on."""
    ports: list[int] = []
    port = settings.metrics_port_base
    while len(ports) < n and port <= 65535:
        if not port_in_use(port):
            ports.append(port)
        port += 1
    if len(ports) < n:
        raise ValueError(f"no free port from TRADEFLOW_METRICS_PORT_BASE={settings.metrics_port_base}")
    return ports


def pipeline(settings: Settings, producer: str = "sim",
             producer_args: tuple[str, ...] = ()) -> tuple[Service, ...]:
    """The services `tradeflow run` starts, in order. The producer gets `producer_args` as
    `tradeflow produce <producer> ARGS`; a replay (or a simulation with --bars) that ends leaves
    the rest of the pipeline running. `none` starts no producer. The producer and the consumer
    serve /metrics and /healthz on the first free ports from TRADEFLOW_METRICS_PORT_BASE."""
    if producer not in PRODUCERS:
        raise ValueError(f"unknown producer {producer!r} (one of {', '.join(PRODUCERS)})")
    producer_port, consumer_port = metrics_ports(settings)
    services = []
    if settings.backend is BackendName.kafka and not settings.kafka_bootstrap_servers:
        services.append(LOCAL_KAFKA)
    services += [Service("flink", ("flink", "start"), oneshot=True, stop_args=("flink", "stop")),
                 Service("job", ("job", "submit"), oneshot=True)]
    if producer != "none":
        services.append(Service("producer", ("produce", "--metrics-port", str(producer_port),
                                             producer, *producer_args),
                                may_finish=True, metrics=_url(settings.metrics_host, producer_port)))
    dash = get_dashboard_settings()
    consumer_env: tuple[tuple[str, str], ...] = ()
    if (producer == "sim" and "--live" not in producer_args
            and "risk_max_clock_skew_seconds" not in get_consumer_settings().model_fields_set):
        # The simulator plays faster than real time, so its bars soon run ahead of the wall
        # clock, past which the consumer refuses signals (a forged future date must not move
        # its signal clock). A year covers any simulation this run can play and still refuses
        # such a record.
        consumer_env = (("TRADEFLOW_RISK_MAX_CLOCK_SKEW_SECONDS", str(SIM_CLOCK_SKEW_SECONDS)),)
    services += [Service("consumer", ("consume", "--metrics-port", str(consumer_port)),
                         env=consumer_env, metrics=_url(settings.metrics_host, consumer_port)),
                 Service("dashboard", ("dashboard",),
                         metrics=_url(dash.dashboard_host, dash.dashboard_port))]
    return tuple(services)


def _url(host: str, port: int) -> str:
    """Where a local browser or curl reaches a server listening on `host`."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"


def _installed() -> set[str]:
    return {ep.name for ep in entry_points(group="tradeflow.commands")}


def _command(args: tuple[str, ...], settings: Settings) -> list[str]:
    return [sys.executable, "-m", "tradeflow.cli", *command_line_args(settings), *args]


class _Child:
    def __init__(self, svc: Service, settings: Settings) -> None:
        self.svc = svc
        logs = settings.path("logs")
        logs.mkdir(parents=True, exist_ok=True)
        self.logfile = open(logs / f"{svc.name}.log", "ab")
        self.proc = subprocess.Popen(_command(svc.args, settings), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **dict(svc.env)})
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.logfile.write(line)
            self.logfile.flush()
            sys.stdout.write(f"[{self.svc.name:>9}] {line.decode(errors='replace')}")
            sys.stdout.flush()

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", self.svc.name, timeout)
                self.signal(signal.SIGKILL)
                self.proc.wait()
        self.pump.join(timeout=2)
        self.logfile.close()


def run_pipeline(settings: Settings, services: tuple[Service, ...] | None = None) -> int:
    """Run until Ctrl-C/SIGTERM or until a service fails. Returns the exit code."""
    if services is None:
        services = pipeline(settings)
    installed = _installed() | {"run", "config", "kafka"}  # the last: built into tradeflow.cli
    started: list[_Child] = []
    undo: list[Service] = []

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # A process started in the background by a shell inherits SIGINT ignored; Ctrl-C (and a
    # SIGINT from a parent) must always stop the pipeline.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    log.info("data directory: %s, backend: %s", settings.path(), settings.backend.value)
    if settings.backend is BackendName.kafka:
        log.info("Kafka: %s", f"the cluster at {settings.kafka_servers}"
                 if settings.kafka_bootstrap_servers else
                 f"a local broker on {settings.kafka_servers}, started and stopped with the pipeline")
    try:
        for svc in services:
            if svc.args[0] not in installed:
                log.info("skipping %s: 'tradeflow %s' is not built yet", svc.name, svc.args[0])
                continue
            child = _Child(svc, settings)
            started.append(child)
            if svc.oneshot:
                # Undone even if it fails or is interrupted half-way: a broker or cluster it
                # already launched (in a session of its own) must not outlive the pipeline.
                if svc.stop_args:
                    undo.append(svc)
                rc = child.proc.wait()
                child.pump.join(timeout=5)
                if rc != 0:
                    log.error("%s failed (exit %d); see %s", svc.name, rc, child.logfile.name)
                    return 1
        for child in started:
            if child.svc.metrics:
                log.info("%s: %s/metrics and %s/healthz", child.svc.name, child.svc.metrics,
                         child.svc.metrics)
        log.info("pipeline running; press Ctrl-C to stop")
        finished: set[str] = set()
        while True:
            for child in started:
                if child.svc.oneshot or child.svc.name in finished:
                    continue
                if (rc := child.proc.poll()) is None:
                    continue
                if rc == 0 and child.svc.may_finish:
                    log.info("%s finished; the rest of the pipeline keeps running", child.svc.name)
                    finished.add(child.svc.name)
                    continue
                log.error("%s exited (code %d); stopping the pipeline", child.svc.name, rc)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        log.info("stopping the pipeline")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        for child in reversed(started):
            child.stop()
        for svc in reversed(undo):
            assert svc.stop_args is not None
            subprocess.run(_command(svc.stop_args, settings), check=False)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return 0
