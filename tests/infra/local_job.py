"""What `tradeflow --backend kafka run` gives the signal job on the local cluster, recorded
without a cluster: `job submit` with the Flink CLI call captured. The production stack's job
(compose, Kubernetes) must get the same entry point, jars and settings."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tradeflow.config import get_settings

# Only for the file backend or the local checkout, not settings of the job on Kafka:
LOCAL_ONLY = {"TRADEFLOW_TOPICS_DIR", "TRADEFLOW_CHECKPOINTS_DIR", "TRADEFLOW_DATA_DIR"}


def local_kafka_submit(monkeypatch: pytest.MonkeyPatch,
                       data_dir: Path) -> tuple[list[str], dict[str, str]]:
    """(the `flink run` command, the TRADEFLOW_* settings it passes) of a kafka-backend submit,
    from an environment with no other TRADEFLOW_* variable."""
    from jobs import submit
    from tradeflow import jvm

    if not jvm.is_fetched("flink-kafka"):
        pytest.skip("build/jars/flink-kafka is not fetched: run `make install`")
    for name in [k for k in os.environ if k.startswith("TRADEFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRADEFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TRADEFLOW_BACKEND", "kafka")
    monkeypatch.setenv("TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", "broker-a:9092")
    get_settings.cache_clear()
    monkeypatch.setattr(submit.LocalCluster, "status", lambda self: {"up": True, "jobs": []})
    calls: list[tuple[list[str], dict[str, str]]] = []

    def run(cmd, env=None, **kw):
        calls.append((cmd, env))
        return subprocess.CompletedProcess(cmd, 0, "Job has been submitted with JobID " + "0" * 32,
                                           "")

    monkeypatch.setattr(submit.subprocess, "run", run)
    try:
        submit.submit_signal_job(get_settings(), fresh=True)
    finally:
        get_settings.cache_clear()
    ((cmd, env),) = calls
    settings = {k: v for k, v in env.items() if k.startswith("TRADEFLOW_") and k not in LOCAL_ONLY}
    return cmd, settings


def entry_in_image(cmd: list[str], repo: Path) -> str:
    """The `--python` entry of a local `flink run`, as a path inside the images (/opt/tradeflow)."""
    return "/opt/tradeflow/" + Path(cmd[cmd.index("--python") + 1]).relative_to(repo).as_posix()
