"""Producers' clock records (tradeflow.contracts.Clock) on the streaming job: the last bars are
signalled without any later bar, and a story delivered after its topic's clock passed it goes to
dead-letter instead of vanishing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backtest.run import run_backtest
from jobs.signal_job import file_job
from tests.conftest import drain, eventually
from tradeflow.config import DEAD_LETTER, SIGNALS
from tradeflow.topics.file import FileBackend

from .stream_time import stream_watermark
from .test_signal_job import T0, read_jsonl, walk, write_prices

pytestmark = pytest.mark.flink


def wire(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_final_clock_releases_the_last_bars_and_a_story_behind_its_clock_is_dead_lettered(tmp_path: Path):
    closes = walk(400, 5)
    expected_dir = tmp_path / "bounded"
    write_prices(tmp_path / "prices.csv", {"AAA": closes})
    run_backtest([tmp_path / "prices.csv"], [], expected_dir)
    expected = {s["signal_id"] for s in read_jsonl(expected_dir / "signals.jsonl")}
    last = T0 + timedelta(minutes=len(closes))
    # Signals that the bars alone would hold back: their watermark stands at the last whole hour.
    held = {s["signal_id"] for s in read_jsonl(expected_dir / "signals.jsonl")
            if datetime.fromisoformat(s["bar_time"]) > stream_watermark(last)}
    assert held, "the data must have signals in its last, unfinished hour"

    topics = tmp_path / "topics"
    job = file_job("streaming", topics, name="test-clock")
    bars = [{"v": 1, "symbol": "AAA", "event_time": wire(T0 + timedelta(minutes=i + 1)), "open": c,
             "high": c * 1.001, "low": c * 0.999, "close": c, "volume": 1000, "source": "test"}
            for i, c in enumerate(closes)]
    clock = {"v": 1, "clock": wire(last), "source": "test"}
    # The story was published inside the 100th bar, but arrives after the news clock passed it.
    story = {"v": 1, "id": "late-1", "symbols": ["AAA"], "headline": "AAA beats estimates",
             "summary": "", "source": "test", "url": None,
             "published_at": wire(T0 + timedelta(minutes=99, seconds=30))}
    (Path(job.prices) / "000000000001.ndjson").write_text(
        "".join(json.dumps(r) + "\n" for r in [*bars, clock]))
    (Path(job.news) / "000000000001.ndjson").write_text(
        json.dumps(clock) + "\n" + json.dumps(story) + "\n")
    result = job.run(wait=False)
    backend = FileBackend(tmp_path, 1 << 20, 1.0)  # reads the job's output as the services do
    got: set[str] = set()
    dead: list[dict] = []

    def signals_and_the_dead_letter() -> bool:
        got.update(json.loads(v)["signal_id"] for v in drain(backend, SIGNALS, "t1"))
        dead[:] = [json.loads(v) for v in drain(backend, DEAD_LETTER, "t2")]  # all, again
        return got >= expected and bool(dead)

    try:
        eventually(signals_and_the_dead_letter, "the bounded run's signals and the late story's "
                   "dead letter", timeout=120, every=1)
    finally:
        result.get_job_client().cancel().result()
    # Every signal of the bounded run, the last bar's included: no later bar was needed.
    assert got == expected
    assert [d["source_topic"] for d in dead] == ["market-news"]
    assert "late-1" in dead[0]["original"] and "behind" in dead[0]["reason"]
