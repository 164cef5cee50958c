"""`tradeflow backtest`: run the signal SQL bounded over price (and news) files.

Input files are read and validated in Python with the same readers as the replay producer:
rows that break the contracts go to DIR/dead-letter.jsonl with a reason and the run goes on.
Valid rows are written as NDJSON for the bounded job, which writes every bar's indicators and
the signals; those part files are then gathered into DIR/indicators.jsonl and DIR/signals.jsonl.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tradeflow.contracts import DeadLetter
from tradeflow.datasets import Rejected, load

from .signal_job import file_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestResult:
    bars: int
    news: int
    rejected: int
    indicator_rows: int
    signals: int
    out: Path


def _write_ndjson(path: Path, records) -> int:
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


def _gather(part_dir: Path, target: Path, sort_key) -> int:
    """Concatenate the job's committed part files into one JSON-lines file, in a stable order."""
    rows = []
    for part in sorted(part_dir.iterdir()):
        if part.is_file() and not part.name.startswith((".", "_")):
            rows += [json.loads(line) for line in part.read_text().splitlines() if line.strip()]
    rows.sort(key=sort_key)
    with open(target, "w") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    return len(rows)


def run_backtest(prices: list[Path], news: list[Path], out: Path, parallelism: int = 1
                 ) -> BacktestResult:
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    bars, bad_prices = load(prices, "prices")
    stories, bad_news = load(news, "news")
    rejected = bad_prices + bad_news
    _dead_letters(out / "dead-letter.jsonl", rejected)
    topics = work / "topics"
    _write_ndjson(topics / "stock-prices" / "input.ndjson", bars)
    _write_ndjson(topics / "market-news" / "input.ndjson", stories)
    job = file_job("bounded", topics, indicators=str(work / "indicators"),
                   parallelism=parallelism, name="tradeflow-backtest")
    job.run(wait=True)
    n_ind = _gather(work / "indicators", out / "indicators.jsonl",
                    lambda r: (r["symbol"], r["timestamp"]))
    n_sig = _gather(topics / "trading-signals", out / "signals.jsonl",
                    lambda r: (r["bar_time"], r["symbol"]))
    shutil.rmtree(work, ignore_errors=True)
    return BacktestResult(len(bars), len(stories), len(rejected), n_ind, n_sig, out)
