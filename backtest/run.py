"""A backtest's input and the output of its bounded Flink runs (the signal SQL over history).

Input files are read and validated in Python with the same readers as the replay producer
(plain price files column by column, to the same bars: price_files.py): rows that break the
contracts go to DIR/dead-letter.jsonl with a reason and the run goes on.
Valid rows are written once as NDJSON topic directories; each bounded run (one per parameter
set, in the worker processes of workers.py) reads them and writes its signals (and, when asked,
every bar's indicators) to its own directory, whose part files are gathered into JSON-lines
files here.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from tradeflow.config import NEWS, PRICES
from tradeflow.contracts import ContractError, DeadLetter, NewsItem, TradingSignal, parse
from tradeflow.datasets import Rejected, load

from .data import bars_table
from .price_files import read_prices, write_ndjson
from .workers import run_job, topics_dir

log = logging.getLogger(__name__)


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
