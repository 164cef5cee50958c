"""The worker processes that run a backtest's bounded Flink jobs.

Several parameter sets (the walk-forward grid) run as one job per worker process (at most
`max_parallel` workers, two by default: a PyFlink mini-cluster lives and dies with its Python
process, and two use the two cores of these machines), sharing what the sets have in common
(jobs/sweep.py). `tradeflow backtest` starts its workers before it reads the input (JobWorkers,
hold): their Python, PyFlink and JVM come up meanwhile, and the job runs once the input is
written. This module stays light (no pandas), so that a worker's start and `tradeflow
backtest`'s own, up to the moment it starts its workers, cost as little as they can.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.signal_job import SignalJob

REPO_ROOT = Path(__file__).resolve().parents[1]
# Written in a run's directory once its job has finished: its output is complete then, while the
# worker's mini-cluster and JVM still take most of a second to shut down.
DONE = "_done"


def topics_dir(work: Path) -> Path:
    """Where a backtest writes its input's NDJSON topics under `work` (run.prepare_inputs)."""
    return work / "topics"


def bounded_job(topics: Path, out_dir: Path, params: dict[str, Any] | None, indicators: bool,
         parallelism: int) -> SignalJob:
    """The bounded job of one parameter set: signals to out_dir/signals, indicators (when
    asked) to out_dir/indicators."""
    from jobs.signal_job import file_job
    from jobs.sql_loader import flat_params, load_strategy

    for sub in ("signals", "indicators"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    (out_dir / "signals").mkdir(parents=True)
    merged = {**flat_params(load_strategy()), **(params or {})}
    # The records the job refuses were refused when the input was read (prepare_inputs).
    return file_job("bounded", topics, signals=str(out_dir / "signals"), dead_letter="",
                    indicators=str(out_dir / "indicators") if indicators else None,
                    parallelism=parallelism, name="tradeflow-backtest", params=merged)


def run_job(topics: Path, out_dir: Path, params: dict[str, Any] | None = None,
            indicators: bool = True, parallelism: int = 1) -> None:
    """One bounded run in this process: signals to out_dir/signals, indicators to out_dir/indicators."""
    bounded_job(topics, out_dir, params, indicators, parallelism).run(wait=True)


def run_sweep(topics: Path, runs: Sequence[dict[str, Any]], parallelism: int = 1,
              ready: Callable[[], bool] | None = None) -> bool:
    """Several parameter sets as one bounded job in this process (jobs/sweep.py). Each run:
    {"out": its directory, "params": its overrides, "indicators": whether it writes them};
    `ready` as for jobs.sweep.run_sweep."""
    from jobs.sweep import run_sweep as run_jobs_as_one

    return run_jobs_as_one([bounded_job(topics, Path(r["out"]), r["params"], r["indicators"],
                                        parallelism) for r in runs], ready)


class JobWorkers:
    """The worker processes of `run_jobs`, each running its share of the parameter sets as one
    job. Held ones (`hold`) start before their input exists: each brings up its JVM and defines
    its job, then waits for `release`, so that this costs no time after the input is read."""

    def __init__(self, topics: Path, work: Path, param_sets: Sequence[dict[str, Any]],
                 indicators_for: int | None = 0, max_parallel: int = 2, parallelism: int = 1,
                 hold: bool = False) -> None:
        # The workers run in the repository (their imports), not in this process's directory.
        topics, work = topics.resolve(), work.resolve()
        self.work, self.param_sets = work, param_sets
        self.dirs = [work / f"run-{i:02d}" for i in range(len(param_sets))]
        workers = max(1, min(max_parallel, len(param_sets)))
        self.shares = [list(range(w, len(param_sets), workers)) for w in range(workers)]
        self.running: dict[int, tuple[subprocess.Popen, Any]] = {}
        self.finishing: list[tuple[subprocess.Popen, Any]] = []  # done, shutting down
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
        work.mkdir(parents=True, exist_ok=True)
        for w, share in enumerate(self.shares):
            runs = [{"out": str(self.dirs[i]), "params": param_sets[i],
                     "indicators": i == indicators_for} for i in share]
            for i in share:
                self.dirs[i].mkdir(parents=True, exist_ok=True)
                (self.dirs[i] / DONE).unlink(missing_ok=True)
            logf = open(work / f"worker-{w}.log", "wb")
            cmd = [sys.executable, "-m", "backtest.workers", "--topics", str(topics),
                   "--runs", json.dumps(runs), "--parallelism", str(parallelism)]
            self.running[w] = (subprocess.Popen(
                cmd + (["--hold"] if hold else []), stdout=logf, stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if hold else subprocess.DEVNULL, env=env, cwd=REPO_ROOT),
                logf)

    def release(self) -> None:
        """Held workers: the input is there, run."""
        for proc, _ in self.running.values():
            if proc.stdin:
                try:
                    proc.stdin.write(b"go\n")
                    proc.stdin.close()
                except BrokenPipeError:  # it ended already: wait() says how
                    pass

    def wait(self, on_done: Callable[[int], None] | None = None) -> list[Path]:
        """Until every worker's job has finished; on_done(i) as set i's output is complete.
        Returns each set's directory; raises if a worker failed."""
        failed: list[str] = []
        while self.running:
            time.sleep(0.05)
            for w, (proc, logf) in list(self.running.items()):
                ended = proc.poll() is not None  # first: it may write its marker, then end
                done = all((self.dirs[i] / DONE).exists() for i in self.shares[w])
                if not done and not ended:
                    continue
                del self.running[w]
                if done:
                    self.finishing.append((proc, logf))
                    for i in self.shares[w]:
                        if on_done:
                            on_done(i)
                    continue
                logf.close()
                tail = (self.work / f"worker-{w}.log").read_text(errors="replace")[-2000:]
                sets = [self.param_sets[i] for i in self.shares[w]]
                failed.append(f"runs {self.shares[w]} ({sets}) exited {proc.returncode} "
                              f"before its job finished:\n{tail}")
        if failed:
            raise RuntimeError("bounded Flink run failed: " + "\n".join(failed))
        return self.dirs

    def __enter__(self) -> JobWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, logf in self.finishing:  # their mini-clusters clean up after themselves
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            logf.close()
        for proc, logf in self.running.values():  # only on an error: end what we started
            proc.kill()
            proc.wait()
            logf.close()
        self.finishing.clear()
        self.running.clear()


def run_jobs(topics: Path, work: Path, param_sets: Sequence[dict[str, Any]],
             indicators_for: int | None = 0, max_parallel: int = 2, parallelism: int = 1,
             on_done: Callable[[int], None] | None = None) -> list[Path]:
    """Run the job for every parameter set; returns each run's directory.

    The sets are dealt to at most `max_parallel` worker processes, each running its share as
    one job (run_sweep): the input is read and the indicators computed once per worker, not
    once per set. Only run `indicators_for` writes per-bar indicators: they do not depend on
    the rule parameters a grid varies, and writing them costs time.
    """
    with JobWorkers(topics, work, param_sets, indicators_for, max_parallel, parallelism) as workers:
        return workers.wait(on_done)


def _main(argv: list[str] | None = None) -> int:
    """Worker entry point: parameter sets as one bounded job (used by run_jobs)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m backtest.workers")
    ap.add_argument("--topics", type=Path, required=True)
    ap.add_argument("--runs", required=True, help="JSON list of {out, params, indicators}")
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("--hold", action="store_true",
                    help="define the job, then run it only on a line `go` on stdin (JobWorkers)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # The JVM first: it takes seconds to come up, while the job's modules are imported and its
    # SQL rendered here (PyFlink launches it once, whichever thread asks first).
    from pyflink.java_gateway import get_gateway

    threading.Thread(target=get_gateway, daemon=True).start()
    runs = json.loads(a.runs)
    if run_sweep(a.topics, runs, a.parallelism,
                 ready=(lambda: sys.stdin.readline().strip() == "go") if a.hold else None):
        for r in runs:
            (Path(r["out"]) / DONE).touch()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
