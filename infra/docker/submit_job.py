"""One-shot job submitter of the compose stack: put the streaming signal job on the JobManager.

Waits for the JobManager and a free task slot, does nothing if the job already runs, and
otherwise runs `flink run -py jobs/streaming_main.py`, resuming from the newest retained
checkpoint of this job version in the shared checkpoint volume (so after `docker compose down` /
`up` the job neither re-reads the topics from the start nor emits its signals again; after an
upgrade that changed the job, it starts from the topics' beginning).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from jobs.signal_job import kafka_job
from jobs.submit import ACTIVE, flink_run
from tradeflow.config import get_job_settings, get_settings

FLINK_HOME = Path(os.environ.get("FLINK_HOME", "/opt/flink"))


def rest(base: str, path: str) -> dict | None:
    try:
        with urllib.request.urlopen(base + path, timeout=5) as resp:
            return json.load(resp)
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None


def wait_for_slots(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        overview = rest(base, "/overview")
        if overview and overview.get("slots-available", 0) > 0:
            return
        time.sleep(2)
    raise SystemExit(f"no JobManager with a free task slot at {base} within {timeout:.0f}s")


def main() -> int:
    address = os.environ.get("FLINK_JOBMANAGER", "jobmanager:8081")
    base = f"http://{address}"
    name = get_job_settings().job_name
    wait_for_slots(base, float(os.environ.get("SUBMIT_TIMEOUT_SECONDS", "300")))
    for job in (rest(base, "/jobs/overview") or {}).get("jobs", []):
        if job["name"] == name and job["state"] in ACTIVE:
            print(f"{name} is already {job['state']} ({job['jid']}); nothing to do")
            return 0
    job = kafka_job("streaming", get_settings().kafka_servers, name=name)
    base = Path(os.environ.get("CHECKPOINT_DIR", "/opt/flink/checkpoints"))
    proc, resume = flink_run(FLINK_HOME, address, job, base, dict(os.environ), capture=False)
    print(f"resumed from {resume}" if resume else "started from the topics' beginning", flush=True)
    return proc.returncode

if __name__ == "__main__":
    sys.exit(main())
