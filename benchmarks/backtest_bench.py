"""`tradeflow backtest` end to end against the job benchmark's plain SQL job, on the same bars.

    python -m benchmarks.backtest_bench [--copies 15] [--repeats 2]

Input: the real minute bars of ../shared/data/lean-us-equity-minute (21,259 bars, 10 symbols),
replicated `copies` times under class-share symbols (AAPL.A, AAPL.B, ...): 318,885 bars by
default, one CSV in a temp dir. Both run as fresh processes, timed from start to exit (each
starts once every process of the one before has ended):

* plain: job_bench's plain SQL job (SMA(20) with the built-in AVG, one row per bar), over the
  same bars as NDJSON topics (converted before the clock starts: the backtest's own reading and
  validation of the CSV is part of its time, the plain job gets its input for free);
* backtest: `tradeflow backtest --prices <csv> --out <dir>`: reading and validating the CSV, the
  bounded signal job, executing the signals with the trading engine, the report.

and the grid's cost, over the same NDJSON topics as the plain job:

* one_run: the backtest's bounded signal job alone (backtest.workers.run_jobs, one parameter set);
* sweep: the same with a 20-point grid (rsi_oversold x rsi_overbought), as `tradeflow backtest
  --walk-forward` and `tradeflow optimize` run it: one job per worker, two workers.

Each runs `repeats` times, alternating; the best of each counts (shared, noisy machine).
Printed: bars/s of each and the ratio backtest/plain (target >= 0.5) of the best times, the
ratio of each round, and the sweep's seconds per parameter set against one run and against the
whole backtest.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import best_of, cli, report
from tradeflow.config import NEWS, PRICES
from tradeflow.datasets import load

REPO_ROOT = Path(__file__).resolve().parents[1]
MINUTE_BARS = REPO_ROOT.parent / "shared" / "data" / "lean-us-equity-minute" / "lean_minute_trade_bars.csv"


def make_csv(target: Path, copies: int) -> int:
    """The minute bars `copies` times, each copy under its own class-share symbols."""
    with open(MINUTE_BARS, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    with open(target, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for k in range(copies):
            suffix = f".{chr(65 + k)}"
            w.writerows([r[0] + suffix, *r[1:]] for r in body)
    return len(body) * copies


def make_topics(prices: Path, topics: Path) -> None:
    """The same bars in the file backend's layout, as the plain job reads them."""
    bars, rejected = load([prices], "prices")
    assert not rejected, rejected[:3]
    (topics / PRICES).mkdir(parents=True)
    (topics / NEWS).mkdir(parents=True)
    (topics / NEWS / "000000000001.ndjson").touch()
    with open(topics / PRICES / "000000000001.ndjson", "wb") as f:
        for b in bars:
            f.write(b.to_json() + b"\n")


SWEEP_POINTS = 20
GRID = {"rsi_oversold": [25, 30, 35, 40], "rsi_overbought": [60, 65, 70, 75, 80]}


def run_grid(topics: Path, work: Path, points: int) -> None:
    """The backtest's bounded runs of the first `points` sets of GRID (a worker's process)."""
    from backtest.workers import run_jobs
    from backtest.grid import expand_grid

    run_jobs(topics, work, expand_grid(GRID)[:points], indicators_for=None)


def _timed(cmd: list[str], log: Path) -> float:
    """Seconds from start to exit of `cmd`. Then, untimed, until every process it started is
    gone: a PyFlink JVM exits a few tenths of a second after its Python process, and the next
    command must not start beside it."""
    t0 = time.perf_counter()
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                start_new_session=True)
        proc.wait()
    took = time.perf_counter() - t0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    if proc.returncode:
        raise RuntimeError(f"{cmd} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
    return took


def run(copies: int = 15, repeats: int = 2) -> dict:
    if not MINUTE_BARS.exists():
        print(f"skipped: {MINUTE_BARS} is absent")
        return {"skipped": f"{MINUTE_BARS} is absent"}
    with tempfile.TemporaryDirectory(prefix="tradeflow-bench-backtest-",
                                     ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        prices = work / "bars.csv"
        n = make_csv(prices, copies)
        make_topics(prices, work / "topics")
        cmds = {
            "plain": lambda out: [sys.executable, "-c",
                                  "import sys; from pathlib import Path; "
                                  "from benchmarks.job_bench import run_plain; "
                                  "run_plain(Path(sys.argv[1]), Path(sys.argv[2]))",
                                  str(work / "topics"), str(out)],
            "backtest": lambda out: [sys.executable, "-c",
                                     "from tradeflow.cli import main; main()", "backtest",
                                     "--prices", str(prices), "--out", str(out)],
            **{name: (lambda out, points=points: [
                sys.executable, "-c", "import sys; from pathlib import Path; "
                "from benchmarks.backtest_bench import run_grid; "
                "run_grid(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))",
                str(work / "topics"), str(out), str(points)])
               for name, points in (("one_run", 1), ("sweep", SWEEP_POINTS))},
        }

        def one(name: str, i: int) -> tuple[float]:
            out = work / f"{name}-{i}"
            took = _timed(cmds[name](out), work / f"{name}-{i}.log")
            shutil.rmtree(out, ignore_errors=True)
            return (took,)

        _, each = best_of(repeats, cmds, one)
        # from the rounded seconds, so that the rates agree with the seconds printed
        best = {name: min(s) for name, s in each.items()}
        result = {
            "bars": n,
            **{f"{name}_rows_per_s": round(n / best[name]) for name in ("plain", "backtest")},
            "ratio_backtest_to_plain": round(best["plain"] / best["backtest"], 3),
            # per round: the two ran back to back, under the same load from other work
            "ratio_each_repeat": [round(p / b, 3) for p, b in zip(each["plain"], each["backtest"])],
            "seconds_each_repeat": each,
            "sweep_points": SWEEP_POINTS,
            "sweep_seconds_per_point": round(best["sweep"] / SWEEP_POINTS, 2),
            "sweep_point_to_one_run": round(best["sweep"] / SWEEP_POINTS / best["one_run"], 3),
            "sweep_point_to_backtest": round(best["sweep"] / SWEEP_POINTS / best["backtest"], 3),
        }
    return report(result)


if __name__ == "__main__":
    cli(run, __doc__, "copies", "repeats")
