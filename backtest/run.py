"""The bounded Flink runs of a backtest: the signal SQL over history, the same SQL as streaming.

Input files are read and validated in Python with the same readers as the replay producer
(plain price files column by column, to the same bars: price_files.py): rows that break the
contracts go to DIR/dead-letter.jsonl with a reason and the run goes on.
Valid rows are written once as NDJSON topic directories; each bounded run (one per parameter
set) reads them and writes its signals (and, when asked, every bar's indicators) to its own
directory, whose part files are gathered into JSON-lines files.

Several parameter sets (the walk-forward grid) run as one job per worker process (at most
`max_parallel` workers, two by default: a PyFlink mini-cluster lives and dies with its Python
process, and two use the two cores of these machines), sharing what the sets have in common.
`tradeflow backtest` starts its workers before it reads the input (JobWorkers, hold): their
Python, PyFlink and JVM come up meanwhile, and the job runs once the input is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tradeflow.config import NEWS, PRICES
from tradeflow.contracts import ContractError, DeadLetter, NewsItem, TradingSignal, parse
from tradeflow.datasets import Rejected, load

from .data import bars_table
from .price_files import read_prices, write_ndjson

if TYPE_CHECKING:
    from jobs.signal_job import SignalJob

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BacktestResult:
    bars: int
    news: int
    rejected: int
    indicator_rows: int
    signals: int
    out: Path


@dataclass(frozen=True)
class Inputs:
    """Validated input, and where its NDJSON topic directories are."""

    bars: pd.DataFrame  # every valid bar, duplicates included (data.bars_table)
    news: list[NewsItem]
    rejected: list[Rejected]
    topics: Path


def _write_ndjson(path: Path, records: Iterable[Any]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "wb") as f:
        for rec in records:
            f.write(rec.to_json() + b"\n")
            n += 1
    return n


def _dead_letters(path: Path, rejected: list[Rejected]) -> None:
    now = datetime.now(timezone.utc)
    with open(path, "wb") as f:
        for r in rejected:
            env = DeadLetter(original=r.raw, reason=r.reason, component="backtest",
                             source_topic=r.topic, time=now)
            f.write(env.to_json() + b"\n")


def read_part_lines(part_dir: Path) -> list[str]:
    """Lines of the committed part files a filesystem sink wrote (hidden in-progress files
    skipped), as it wrote them."""
    lines: list[str] = []
    if not part_dir.exists():
        return lines
    for part in sorted(part_dir.iterdir()):
        if part.is_file() and not part.name.startswith((".", "_")):
            lines += [line for line in part.read_text().splitlines() if line.strip()]
    return lines


def load_signals(run_dir: Path) -> tuple[list[TradingSignal], list[str]]:
    """A run's signals by bar time and symbol, and their lines as the sink wrote them in the
    same order (parsed once: a grid's runs hold tens of thousands of signals each)."""
    parsed, broken = [], []
    for line in read_part_lines(run_dir / "signals"):
        try:
            parsed.append((parse(TradingSignal, line), line))
        except ContractError as err:  # the job's output breaking the contract is a bug: say it
            log.error("a signal breaks the contract: %s", err)
            broken.append(line)
    parsed.sort(key=lambda pair: (pair[0].bar_time, pair[0].symbol))
    return [sig for sig, _ in parsed], [line for _, line in parsed] + broken


def indicator_order(row: dict[str, Any]) -> tuple[str, str]:
    return row["symbol"], row["timestamp"]


# The JSON sink writes the columns in the table's order (sql/tables/indicator_rows.sql).
_INDICATOR_KEY = re.compile(r'\{"symbol":"([^"\\]*)","timestamp":"([^"\\]*)"')


def indicator_line_order(line: str) -> tuple[str, str]:
    """`indicator_order` of a line as the sink wrote it, without decoding the whole row: a run
    writes one per bar, and only a few symbols' rows are ever decoded (the report's charts)."""
    m = _INDICATOR_KEY.match(line)
    return (m[1], m[2]) if m else indicator_order(json.loads(line))


def write_indicators(run_dir: Path, target: Path) -> list[str]:
    """A run's per-bar indicator rows into `target`, by symbol and time, as the sink wrote them
    (same values; numbers in Flink's notation); returns the lines written."""
    lines = sorted(read_part_lines(run_dir / "indicators"), key=indicator_line_order)
    with open(target, "w") as f:
        f.writelines(line + "\n" for line in lines)
    return lines


def topics_dir(work: Path) -> Path:
    """Where prepare_inputs writes the NDJSON topics under `work`."""
    return work / "topics"


def prepare_inputs(prices: Sequence[Path], news: Sequence[Path], out: Path, work: Path) -> Inputs:
    """Read and validate the CSV files once; every run of the backtest reads the NDJSON written here."""
    table = read_prices(prices)
    if table is None:  # a file the column reader leaves to the row reader
        bars, bad_prices = load(prices, "prices")
        table = bars_table(bars)  # type: ignore[arg-type]
    else:
        bad_prices = []
    stories, bad_news = load(news, "news")
    rejected = bad_prices + bad_news
    out.mkdir(parents=True, exist_ok=True)
    _dead_letters(out / "dead-letter.jsonl", rejected)  # first: the reasons, even if no bar is valid
    if table.empty:
        hint = (f": {len(bad_prices)} price rows rejected, reasons in {out / 'dead-letter.jsonl'}"
                if bad_prices else "")
        raise ValueError(f"no valid price bars in the input: nothing to backtest{hint}")
    topics = topics_dir(work)
    (topics / PRICES).mkdir(parents=True, exist_ok=True)
    with open(topics / PRICES / "input.ndjson", "wb") as f:
        write_ndjson(f, table)
    _write_ndjson(topics / NEWS / "input.ndjson", stories)
    return Inputs(table, stories, rejected, topics)  # type: ignore[arg-type]


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
              ready: Callable[[], bool] | None = None) -> None:
    """Several parameter sets as one bounded job in this process (jobs/sweep.py). Each run:
    {"out": its directory, "params": its overrides, "indicators": whether it writes them};
    `ready` as for jobs.sweep.run_sweep."""
    from jobs.sweep import run_sweep as run_jobs_as_one

    run_jobs_as_one([bounded_job(topics, Path(r["out"]), r["params"], r["indicators"], parallelism)
                     for r in runs], ready)


class JobWorkers:
    """The worker processes of `run_jobs`, each running its share of the parameter sets as one
    job. Held ones (`hold`) start before their input exists: each brings up its JVM and defines
    its job, then waits for `release`, so that this costs no time after the input is read."""

    def __init__(self, topics: Path, work: Path, param_sets: Sequence[dict[str, Any]],
                 indicators_for: int | None = 0, max_parallel: int = 2, parallelism: int = 1,
                 hold: bool = False) -> None:
        self.work, self.param_sets = work, param_sets
        self.dirs = [work / f"run-{i:02d}" for i in range(len(param_sets))]
        workers = max(1, min(max_parallel, len(param_sets)))
        self.shares = [list(range(w, len(param_sets), workers)) for w in range(workers)]
        self.running: dict[int, tuple[subprocess.Popen, Any]] = {}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
        work.mkdir(parents=True, exist_ok=True)
        for w, share in enumerate(self.shares):
            runs = [{"out": str(self.dirs[i]), "params": param_sets[i],
                     "indicators": i == indicators_for} for i in share]
            for i in share:
                self.dirs[i].mkdir(parents=True, exist_ok=True)
            logf = open(work / f"worker-{w}.log", "wb")
            cmd = [sys.executable, "-m", "backtest.run", "--topics", str(topics),
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
        """Until every worker ends; on_done(i) as set i's output is complete. Returns each set's
        directory; raises if a worker failed."""
        failed: list[str] = []
        while self.running:
            time.sleep(0.2)
            for w, (proc, logf) in list(self.running.items()):
                if proc.poll() is None:
                    continue
                logf.close()
                del self.running[w]
                if proc.returncode != 0:
                    tail = (self.work / f"worker-{w}.log").read_text(errors="replace")[-2000:]
                    sets = [self.param_sets[i] for i in self.shares[w]]
                    failed.append(f"runs {self.shares[w]} ({sets}) exited {proc.returncode}:\n{tail}")
                elif on_done:
                    for i in self.shares[w]:
                        on_done(i)
        if failed:
            raise RuntimeError("bounded Flink run failed: " + "\n".join(failed))
        return self.dirs

    def __enter__(self) -> JobWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, logf in self.running.values():  # only on an error: end what we started
            proc.kill()
            proc.wait()
            logf.close()
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


def run_backtest(prices: list[Path], news: list[Path], out: Path, parallelism: int = 1,
                 params: dict[str, Any] | None = None) -> BacktestResult:
    """Signals only: DIR/indicators.jsonl, DIR/signals.jsonl and DIR/dead-letter.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    inputs = prepare_inputs(prices, news, out, work)
    run_job(inputs.topics, work / "run", params, indicators=True, parallelism=parallelism)
    n_ind = len(write_indicators(work / "run", out / "indicators.jsonl"))
    _, lines = load_signals(work / "run")
    (out / "signals.jsonl").write_text("".join(line + "\n" for line in lines))
    n_sig = len(lines)
    shutil.rmtree(work, ignore_errors=True)
    return BacktestResult(len(inputs.bars), len(inputs.news), len(inputs.rejected), n_ind, n_sig, out)


def _main(argv: list[str] | None = None) -> int:
    """Worker entry point: parameter sets as one bounded job (used by run_jobs)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m backtest.run")
    ap.add_argument("--topics", type=Path, required=True)
    ap.add_argument("--runs", required=True, help="JSON list of {out, params, indicators}")
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("--hold", action="store_true",
                    help="define the job, then run it only on a line `go` on stdin (JobWorkers)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    run_sweep(a.topics, json.loads(a.runs), a.parallelism,
              ready=(lambda: sys.stdin.readline().strip() == "go") if a.hold else None)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
