"""Submit the streaming signal job to the local standalone cluster, resuming from its checkpoints.

PyFlink can only submit to a standalone cluster through the Flink CLI (`flink run -py`), which
runs jobs/streaming_main.py as the client in the cluster's configuration.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tradeflow.config import BackendName, JobSettings, Settings

from .cluster import FLINK_HOME, LocalCluster

if TYPE_CHECKING:
    from .signal_job import SignalJob

JOB_NAME = JobSettings.model_fields["job_name"].default  # the local cluster runs one job
ACTIVE = {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING"}
ENTRY = Path(__file__).with_name("streaming_main.py")


class SubmitError(RuntimeError):
    pass


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest completed checkpoint (a chk-N with _metadata) anywhere under checkpoint_dir."""
    done = [m.parent for m in checkpoint_dir.rglob("_metadata") if m.parent.name.startswith("chk-")]
    return max(done, key=lambda p: p.stat().st_mtime) if done else None


def flink_run(flink_home: Path, address: str, job: SignalJob, checkpoint_base: Path,
              env: dict[str, str], *, fresh: bool = False, capture: bool = True
              ) -> tuple[subprocess.CompletedProcess, Path | None]:
    """`flink run` of the streaming entry point for `job` on the JobManager at `address`,
    resuming from the newest checkpoint of this job version under `checkpoint_base` unless
    `fresh`; what every submitter (`tradeflow job submit`, the compose submitter) runs."""
    resume = None if fresh else latest_checkpoint(job.checkpoints_under(checkpoint_base))
    cmd = ["bash", str(flink_home / "bin" / "flink"), "run", "--detached", "-m", address]
    if resume:
        cmd += ["--fromSavepoint", str(resume)]
    cmd += ["--python", str(ENTRY), "--pyClientExecutable", sys.executable,
            "--pyExecutable", sys.executable]
    # streaming_main builds the same job: same name, checkpoints in the same directory.
    env = {**env, "TRADEFLOW_JOB_NAME": job.name,
           "TRADEFLOW_CHECKPOINTS_DIR": str(checkpoint_base)}
    proc = subprocess.run(cmd, env=env, capture_output=capture, text=True, timeout=300)
    return proc, resume


def submit_signal_job(settings: Settings, parallelism: int = 1, fresh: bool = False) -> str:
    cluster = LocalCluster.from_settings(settings)
    status = cluster.status()
    if not status["up"]:
        raise SubmitError(f"no Flink cluster answers at {cluster.url}: run `tradeflow flink start`")
    for j in status["jobs"]:
        if j["name"] == JOB_NAME and j["state"] in ACTIVE:
            return f"{JOB_NAME} is already {j['state']} ({j['id']})"
    from jobs.signal_job import file_job, kafka_job
    from tradeflow.jvm import JvmPartMissing

    if settings.backend is BackendName.file:
        job = file_job("streaming", settings.path("topics"), name=JOB_NAME)
    elif settings.backend is BackendName.kafka:
        job = kafka_job("streaming", settings.kafka_servers, name=JOB_NAME)
    else:
        raise SubmitError(f"the local cluster runs the job on the file or kafka backend; the "
                          f"{settings.backend.value} backend runs on AWS Managed Flink")
    try:
        job.job_jars()  # compile and find the jars before the CLI's client starts: errors show here
    except JvmPartMissing as err:
        raise SubmitError(str(err)) from None
    env = {**cluster.env(), "TRADEFLOW_BACKEND": settings.backend.value,
           "TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_servers,
           "TRADEFLOW_TOPICS_DIR": str(settings.path("topics")),
           "TRADEFLOW_JOB_PARALLELISM": str(parallelism),
           "PYTHONPATH": os.pathsep.join([str(ENTRY.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc, resume = flink_run(FLINK_HOME, f"localhost:{cluster.port}", job, cluster.checkpoint_dir,
                             env, fresh=fresh)
    found = re.search(r"JobID ([0-9a-f]{32})", proc.stdout + proc.stderr)
    if proc.returncode != 0 or not found:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SubmitError(f"flink run failed (exit {proc.returncode}):\n{tail}")
    origin = f"resumed from {resume}" if resume else "from the beginning of the topics"
    if not resume and not fresh and latest_checkpoint(cluster.checkpoint_dir):
        origin += (f" (the checkpoints in {cluster.checkpoint_dir} are of an earlier version of the"
                   " job, with other SQL or functions, which Flink cannot restore into this one)")
    return f"submitted {JOB_NAME} ({found.group(1)}), {origin}; watch it at {cluster.url}"
