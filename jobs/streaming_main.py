"""Entry point of the streaming signal job for `flink run -py` (what `tradeflow job submit` runs).

The Flink CLI runs this file as the job's client: the environment it creates submits to the
cluster the CLI was pointed at. Locations come from the environment, set by the submitter.
"""

from __future__ import annotations

import os
from pathlib import Path

from jobs.signal_job import file_job


def main() -> None:
    topics = Path(os.environ["TRADEFLOW_TOPICS_DIR"])
    job = file_job("streaming", topics, name=os.environ.get("TRADEFLOW_JOB_NAME", "tradeflow-signals"),
                   parallelism=int(os.environ.get("TRADEFLOW_JOB_PARALLELISM", "1")))
    job.run(wait=False)


if __name__ == "__main__":
    main()
