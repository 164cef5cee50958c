"""The backtest's job workers started before their input exists (workers.JobWorkers, hold=True): they
run only when released, and a backtest whose input fails leaves none behind. That a released
worker's run is exactly a backtest's is test_prefix_and_report.py (evaluate holds its workers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest.evaluate import Options, evaluate
from backtest.run import prepare_inputs
from backtest.workers import DONE, JobWorkers, run_jobs, topics_dir
from tests.conftest import processes_mentioning

from .helpers import read_parts
from .synthetic import write_prices

pytestmark = pytest.mark.flink


def test_a_held_worker_runs_only_when_released(tmp_path: Path) -> None:
    """Two sets over the same input, one worker each: one released, the other's input reader
    gone (end of its stdin, no `go`): only the released one runs and says its output is complete;
    waiting says the other ended without running its job, rather than hand over no signals."""
    write_prices(tmp_path / "prices.csv")
    work = tmp_path / "work"
    with JobWorkers(topics_dir(work), work, [{}, {}], indicators_for=None, hold=True) as workers:
        prepare_inputs([tmp_path / "prices.csv"], [], tmp_path / "out", work)
        [(released, _), (dropped, _)] = workers.running.values()
        assert dropped.stdin is not None
        dropped.stdin.close()
        dropped.stdin = None
        workers.release()
        with pytest.raises(RuntimeError, match=r"runs \[1\] \(\[\{\}\]\) exited 0 before its job "
                                               r"finished"):
            workers.wait()
    ran, idle = workers.dirs
    assert (ran / DONE).exists() and not (idle / DONE).exists()
    assert read_parts(ran / "signals"), "the released worker signals"
    assert not read_parts(idle / "signals")
    assert released.returncode == 0, "the released worker shut down on its own"


def test_relative_paths_mean_this_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers run in the repository; paths given relative to another directory still
    name the same files there (once they were read and written under the repository instead,
    and the backtest found no signals)."""
    monkeypatch.chdir(tmp_path)
    write_prices(Path("prices.csv"))
    prepare_inputs([Path("prices.csv")], [], Path("out"), Path("work"))
    [run] = run_jobs(topics_dir(Path("work")), Path("work"), [{}], indicators_for=None)
    assert run == tmp_path / "work" / "run-00"
    assert read_parts(run / "signals")


def test_a_backtest_whose_input_fails_leaves_no_worker(tmp_path: Path) -> None:
    prices = tmp_path / "bad.csv"
    prices.write_text("symbol,timestamp,open,high,low,close,volume\n"
                      "AAPL,2024-01-02T14:31:00Z,10,11,9,12,100\n")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="no valid price bars in the input"):
        evaluate([prices], [], out, Options(keep_work=True))
    assert processes_mentioning(str(out / ".work")) == []
    assert "close 12 outside [low 9, high 11]" in (out / "dead-letter.jsonl").read_text()
