"""Records the job cannot use (checks.sql), malformed or late, go to dead-letter with a reason and
change nothing else: the job runs on and writes exactly the signals it writes without them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from jobs.signal_job import file_job
from tests.conftest import drain
from tradeflow.contracts import DeadLetter, parse
from tradeflow.topics.file import FileBackend

from .stream_time import PARAMS

pytestmark = pytest.mark.flink
T0 = datetime(2024, 3, 5, 14, 30, tzinfo=timezone.utc)


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def bar(sym: str, t: datetime | None, close: float, high: float | None = None,
        low: float | None = None) -> dict:
    record = {"v": 1, "symbol": sym, "open": close, "high": close + 0.05 if high is None else high,
              "low": close - 0.05 if low is None else low, "close": close, "volume": 100,
              "source": "test"}
    if t is not None:
        record["event_time"] = stamp(t)
    return record


def story(ident: str, symbols: list[str], t: datetime | None) -> dict:
    record = {"v": 1, "id": ident, "symbols": symbols, "source": "test", "url": None,
              "headline": "Company profit rose sharply, beat expectations", "summary": None}
    if t is not None:
        record["published_at"] = stamp(t)
    return record


GOOD_BARS = [bar(sym, T0 + timedelta(minutes=i), round(100 + 4 * np.sin(i / (7 + k)) + 0.01 * i, 4))
             for i in range(1, 300) for k, sym in enumerate(("AAA", "BBB"))]
GOOD_NEWS = [story("n1", ["AAA"], T0 + timedelta(minutes=60))]
BAD = {  # reason -> (topic, record)
    "bar has no event_time": ("stock-prices", bar("AAA", None, 101.0)),
    "bar has no positive close": ("stock-prices", bar("AAA", T0 + timedelta(minutes=150), -5.0)),
    "bar high is below its low (or missing)": (
        "stock-prices", bar("BBB", T0 + timedelta(minutes=151), 100.0, high=99.0, low=101.0)),
    "story has no published_at": ("market-news", story("n2", ["BBB"], None)),
    # before n1, which comes after it: a story more than 60 s behind a newer one counts as late
    "story is tagged with no symbol": ("market-news", story("n3", [], T0 + timedelta(minutes=50))),
    # a foreign writer's monster (2 MB of headline took the scorer minutes): refused before it
    "story headline is longer than 2000 characters": (
        "market-news", {**story("n5", ["AAA"], T0 + timedelta(minutes=55)),
                        "headline": "profit rose " * 500}),
}
LATE = {  # appended to the topic, behind newer records by more than its watermark delay
    "bar came after the watermark had passed its event_time": (
        "stock-prices", bar("AAA", T0 + timedelta(minutes=100, seconds=30), 101.0)),
    f"story came more than {PARAMS['news_watermark_delay_seconds']} s behind a newer story": (
        "market-news", story("n4", ["BBB"], T0 + timedelta(minutes=30))),
}


def run(root: Path, bad: bool) -> tuple[set[str], list[DeadLetter]]:
    topics = root / "topics"  # the file backend's layout, read back with its own reader
    records = {"stock-prices": list(GOOD_BARS), "market-news": list(GOOD_NEWS)}
    if bad:  # in the middle of each topic, so the good records after them must still count
        for topic, record in BAD.values():
            records[topic].insert(len(records[topic]) // 2, record)
        for topic, record in LATE.values():
            records[topic].append(record)
    job = file_job("bounded", topics)
    for topic, rows in records.items():
        with open(topics / topic / "000000000001.ndjson", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    # The stream's runtime: a record without an event time used to stop it, and it restarted
    # into the same record forever.
    job.run(wait=False, runtime="streaming").wait(120_000)
    backend = FileBackend(root)
    signals = {json.loads(raw)["signal_id"] for raw in drain(backend, "trading-signals")}
    return signals, [parse(DeadLetter, raw) for raw in drain(backend, "dead-letter")]


def test_refused_records_go_to_dead_letter_and_change_no_signal(tmp_path: Path) -> None:
    clean_signals, clean_dead = run(tmp_path / "clean", bad=False)
    signals, dead = run(tmp_path / "dirty", bad=True)

    assert clean_signals and clean_dead == []
    assert signals == clean_signals
    assert {d.reason: d.source_topic for d in dead} == {r: t for r, (t, _) in (BAD | LATE).items()}
    assert len(dead) == len(BAD) + len(LATE)
    assert {d.component for d in dead} == {"signal-job"}
    by_reason = {d.reason: json.loads(d.original) for d in dead}
    assert by_reason["bar has no positive close"]["close"] == -5.0
    assert by_reason["story is tagged with no symbol"]["id"] == "n3"
