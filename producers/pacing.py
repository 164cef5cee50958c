"""Pace a stream of event times against the wall clock by a speed factor."""

from __future__ import annotations

import time
from datetime import datetime


class Pacer:
    """`wait(t)` returns when `speed` times the elapsed wall time has covered t - t0.

    speed 0 means as fast as possible; speed 1 is real time; 60 plays one minute per second.
    """

    def __init__(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = speed
        self._t0: datetime | None = None
        self._wall0 = 0.0

    def wait(self, t: datetime) -> None:
        if self.speed == 0:
            return
        if self._t0 is None:
            self._t0, self._wall0 = t, time.monotonic()
            return
        due = self._wall0 + (t - self._t0).total_seconds() / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
