"""The bars' watermark as stock_prices.sql declares it: over history (a replay, a backlog) it
moves a whole step at a time, live it follows every bar. Read back with CURRENT_WATERMARK from the
product's own table and runtime settings."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobs.signal_job import file_job

from .stream_time import PARAMS, stream_watermark

pytestmark = pytest.mark.flink
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)


def test_history_moves_the_watermark_a_step_at_a_time_and_live_bars_one_bar_at_a_time(tmp_path: Path):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    history = [T0 + timedelta(minutes=i) for i in range(1, 150)]  # two and a half hours of 2024
    live = [now - timedelta(minutes=k) for k in range(10, 0, -1)]
    times = history + live
    job = file_job("bounded", tmp_path / "topics")
    with open(Path(job.prices) / "000000000001.ndjson", "w") as f:
        for t in times:
            f.write(json.dumps({"v": 1, "symbol": "AAA", "event_time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "open": 10, "high": 11, "low": 9, "close": 10, "volume": 1,
                                "source": "test"}) + "\n")
    env = replace(job, mode="streaming").environment()
    env.execute_sql(job._table("stock_prices.sql", "source", job.prices))
    seen = [(utc(t), w and utc(w)) for t, w in env.execute_sql(
        "SELECT CAST(event_time AS STRING), CAST(CURRENT_WATERMARK(timeline_time) AS STRING) "
        "FROM stock_prices").collect()]

    assert [t for t, _ in seen] == times
    # Each bar sees the watermark its predecessor moved.
    assert [w for _, w in seen[1:]] == [stream_watermark(t, now) for t in times[:-1]]
    # So over history it stands at the last whole hour before the newest bar, less the delay.
    assert PARAMS["history_watermark_step"] == "HOUR", "the lines below are written for hours"
    delay = timedelta(seconds=PARAMS["watermark_delay_seconds"])
    hours = {datetime(2024, 1, 2, h, tzinfo=timezone.utc) - delay for h in (14, 15, 16)}
    assert {w for _, w in seen[1:len(history) + 1]} == hours
    assert [w for _, w in seen[len(history) + 1:]] == [t - delay for t in live[:-1]]


def test_a_clock_record_moves_the_watermark_to_its_time_at_once(tmp_path: Path):
    """Live or history, a producer's clock (tradeflow.contracts.Clock) puts the watermark at the
    clock itself: no delay, no whole history step."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    job = file_job("bounded", tmp_path / "topics")

    def bar(t: datetime) -> dict:
        return {"v": 1, "symbol": "AAA", "event_time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "open": 10, "high": 11, "low": 9, "close": 10, "volume": 1, "source": "test"}

    def clock(t: datetime) -> dict:
        return {"v": 1, "clock": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "source": "test"}

    history_end, live_end = T0 + timedelta(minutes=37), now - timedelta(minutes=1)
    records = [bar(T0 + timedelta(minutes=36)), bar(history_end), clock(history_end),
               bar(history_end + timedelta(minutes=1)),
               bar(live_end), clock(live_end), bar(now)]
    with open(Path(job.prices) / "000000000001.ndjson", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    env = replace(job, mode="streaming").environment()
    env.execute_sql(job._table("stock_prices.sql", "source", job.prices))
    seen = [w and utc(w) for (w,) in env.execute_sql(
        "SELECT CAST(CURRENT_WATERMARK(timeline_time) AS STRING) FROM stock_prices").collect()]
    delay = timedelta(seconds=PARAMS["watermark_delay_seconds"])
    # What each record arrived under: the bar after a clock sees the clock's time itself.
    assert seen[3] == history_end
    assert seen[6] == live_end
    # Without a clock, the bars' own rule (history: the whole hour, less the delay).
    assert seen[2] == stream_watermark(history_end, now)
    assert seen[5] == stream_watermark(live_end, now) == live_end - delay
