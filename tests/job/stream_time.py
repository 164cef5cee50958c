"""Where a stream's watermark stands after its newest bar: what stock_prices.sql declares, restated
from strategy.toml for the tests that wait on a stream."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

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
