"""Where a stream's watermark stands after its newest bar (what stock_prices.sql declares, restated
from strategy.toml) and which signals a stream must therefore have written, for the tests that
wait on a stream."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jobs.signal_job import file_job
from jobs.sql_loader import flat_params, load_strategy

PARAMS = flat_params(load_strategy())
STEP_FIELDS = {"MINUTE": ("second", "microsecond"), "HOUR": ("minute", "second", "microsecond"),
               "DAY": ("hour", "minute", "second", "microsecond")}


def stream_watermark(newest: datetime, now: datetime | None = None) -> datetime:
    """The watermark after a bar ending at `newest`: a whole history step for history, the bar
    itself for a live one, less the delay."""
    now = now or datetime.now(timezone.utc)
    mark = newest
    if newest <= now - timedelta(seconds=PARAMS["history_age_seconds"]):
        mark = newest.replace(**dict.fromkeys(STEP_FIELDS[PARAMS["history_watermark_step"]], 0))
    return mark - timedelta(seconds=PARAMS["watermark_delay_seconds"])


def records_in(d: Path) -> list[dict]:
    """The JSON records of a topic directory (Flink's in-progress files are hidden)."""
    return [json.loads(line) for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")
            for line in p.read_text().splitlines() if line.strip()] if d.exists() else []


def signals_due(scratch: Path) -> tuple[set[str], set[str]]:
    """What one uninterrupted bounded run over copies of a stream's topics in `scratch` signals
    (all ids), and of those, the ones the stream must have signalled: its watermark has passed
    their bar (2024 is history, so the newest bar's whole step may still be pending)."""
    file_job("bounded", scratch).run(wait=True)
    expected = {s["signal_id"]: s["bar_time"] for s in records_in(scratch / "trading-signals")}
    passed = stream_watermark(max(datetime.fromisoformat(b["event_time"])
                                  for b in records_in(scratch / "stock-prices")
                                  if "event_time" in b))  # the simulator's clocks are no bars
    return set(expected), {k for k, t in expected.items() if datetime.fromisoformat(t) <= passed}
