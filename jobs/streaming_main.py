"""Entry point of the streaming signal job for `flink run -py` (what `tradeflow job submit` runs).

The Flink CLI runs this file as the job's client: the environment it creates submits to the
cluster the CLI was pointed at. Locations come from the environment, set by the submitter:
TRADEFLOW_BACKEND picks the topics (`file`: the directories under TRADEFLOW_TOPICS_DIR; `kafka`:
the topics at TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS, as in the production stack). With
TRADEFLOW_CHECKPOINTS_DIR, checkpoints go to this job version's directory under it.
"""

from __future__ import annotations

from jobs.signal_job import file_job, kafka_job
from tradeflow.config import BackendName, get_job_settings, get_settings


def main() -> None:
    js = get_job_settings()
    common = {"name": js.job_name, "parallelism": js.job_parallelism,
              "cluster_checkpoints": True}  # the cluster's config.yaml names the directory
    settings = get_settings()
    if settings.backend is BackendName.kafka:
        job = kafka_job("streaming", settings.kafka_servers, **common)
    elif settings.backend is BackendName.file and js.topics_dir:
        job = file_job("streaming", js.topics_dir, **common)
    else:
        raise SystemExit(f"streaming_main: no streaming job for backend {settings.backend.value!r}"
                         " (the file backend needs TRADEFLOW_TOPICS_DIR)")
    if js.checkpoints_dir:  # set by the submitters, which resume from the same directory
        job.extra_config["execution.checkpointing.dir"] = job.checkpoints_under(
            js.checkpoints_dir).as_uri()
    job.run(wait=False)


if __name__ == "__main__":
    main()
