"""What differs between versions and deployments of the job: checkpoints are kept per job version
(fingerprint), so a submit only resumes one that Flink can restore into the job it submits and an
upgraded job starts afresh instead of failing; the Python UDF's mode per deployment."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.signal_job import file_job
from jobs.sql_loader import flat_params, load_strategy
from jobs.submit import latest_checkpoint


def _checkpoint(path: Path, mtime: float) -> Path:
    path.mkdir(parents=True)
    (path / "_metadata").write_bytes(b"x")
    os.utime(path / "_metadata", (mtime, mtime))
    return path


def test_fingerprint_follows_the_sql_and_nothing_else(tmp_path):
    job = file_job("streaming", tmp_path / "topics")
    assert job.fingerprint() == file_job("streaming", tmp_path / "topics").fingerprint()
    # Parallelism and the job's name change no state layout: the same checkpoints resume.
    assert file_job("streaming", tmp_path / "topics", parallelism=2,
                    name="other").fingerprint() == job.fingerprint()
    other_rsi = {**flat_params(load_strategy()), "rsi": 9}
    assert file_job("streaming", tmp_path / "topics", params=other_rsi).fingerprint() != job.fingerprint()
    assert file_job("streaming", tmp_path / "elsewhere").fingerprint() != job.fingerprint()


def test_latest_checkpoint_stays_within_the_job_versions_directory(tmp_path):
    job = file_job("streaming", tmp_path / "topics")
    base = tmp_path / "checkpoints"
    mine = job.checkpoints_under(base)
    assert mine.parent == base and mine.name == f"job-{job.fingerprint()}"
    assert latest_checkpoint(mine) is None  # nothing yet
    _checkpoint(mine / "a1" / "chk-3", 100)
    newest_mine = _checkpoint(mine / "a2" / "chk-5", 200)
    _checkpoint(mine / "a2" / "chk-6-incomplete" / "nested", 300)  # not a chk-N directory
    newest_other = _checkpoint(base / "job-0000000000000000" / "b1" / "chk-9", 400)
    (mine / "a2" / "chk-7").mkdir()  # in progress: no _metadata yet
    assert latest_checkpoint(mine) == newest_mine
    assert latest_checkpoint(base) == newest_other  # the submitter's "earlier version" hint


def test_python_udf_mode_per_deployment(tmp_path):
    """Thread mode where it is exercised (file backend); PyFlink's default elsewhere."""
    from jobs.signal_job import kafka_job

    assert file_job("streaming", tmp_path / "topics").python_mode == "thread"
    assert kafka_job("streaming", "broker:9092").python_mode == "process"
