"""The risk clock: what "now" means for staleness, market hours, cooldowns and the trading day.

`wall`: real time. Always used on Alpaca: a real account must be judged in real time.
`signal`: the latest `bar_time` seen (never going backwards, kept across restarts by the
consumer). For the built-in simulator, whose bars run ahead of real time around the clock: a
simulated session is then judged by its own clock, and a signal far behind the newest one is
still stale.

Either way, with `max_ahead` (the consumer's TRADEFLOW_RISK_MAX_CLOCK_SKEW_SECONDS) a bar_time
further than that ahead of the WALL clock never moves the signal clock: one record (a bad clock,
a forged date) must not drag it into the future, where every later signal would look stale, the
saved clock with it across restarts. Such a signal is vetoed (risk.py). So a simulation played
faster than real time trades only until its bars overtake the wall clock by more than that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

log = logging.getLogger(__name__)


def wall_now() -> datetime:
    return datetime.now(timezone.utc)


class RiskClock:
    def __init__(self, mode: str, wall: Callable[[], datetime] = wall_now,
                 latest: datetime | None = None, max_ahead: float | None = None) -> None:
        if mode not in ("wall", "signal"):
            raise ValueError(f"unknown risk clock {mode!r}")
        self.mode = mode
        self.wall = wall
        # None: no bound (the backtest, whose `wall` is a moment of the past, not real time).
        self.max_ahead = max_ahead
        if latest is not None and self.ahead_of_wall(latest) is not None:
            # Saved before this bound existed, by a record from the future: not a clock to keep.
            log.warning("saved signal clock %s is ahead of the wall clock: ignored", latest)
            latest = None
        self.latest = latest

    def ahead_of_wall(self, t: datetime) -> float | None:
        """How many seconds `t` is ahead of the wall clock, if more than `max_ahead`; else None."""
        if self.max_ahead is None:
            return None
        ahead = (t - self.wall()).total_seconds()
        return ahead if ahead > self.max_ahead else None

    def observe(self, bar_time: datetime) -> bool:
        """Advance the signal clock; True if it moved. Never to a bar_time too far ahead of the
        wall clock (see the module docstring)."""
        if self.ahead_of_wall(bar_time) is not None:
            return False
        if self.latest is None or bar_time > self.latest:
            self.latest = bar_time
            return True
        return False

    def now(self) -> datetime:
        if self.mode == "signal" and self.latest is not None:
            return self.latest
        return self.wall()
