"""The risk clock: what "now" means for staleness, market hours, cooldowns and the trading day.

`wall`: real time. Always used on Alpaca: a real account must be judged in real time.
`signal`: the latest `bar_time` seen (never going backwards, kept across restarts by the
consumer). For the built-in simulator, whose bars run ahead of real time around the clock: a
simulated session is then judged by its own clock, and a signal far behind the newest one is
still stale.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone


def wall_now() -> datetime:
    return datetime.now(timezone.utc)


class RiskClock:
    def __init__(self, mode: str, wall: Callable[[], datetime] = wall_now,
                 latest: datetime | None = None) -> None:
        if mode not in ("wall", "signal"):
            raise ValueError(f"unknown risk clock {mode!r}")
        self.mode = mode
        self.wall = wall
        self.latest = latest

    def observe(self, bar_time: datetime) -> bool:
        """Advance the signal clock; True if it moved."""
        if self.latest is None or bar_time > self.latest:
            self.latest = bar_time
            return True
        return False

    def now(self) -> datetime:
        if self.mode == "signal" and self.latest is not None:
            return self.latest
        return self.wall()
