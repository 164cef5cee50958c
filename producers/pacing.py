"""Pace a stream of event times against the wall clock by a speed factor."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime


class Pacer:
    """`wait(t)` returns when `speed` times the elapsed wall time has covered t - t0.

    speed 0 means as fast as possible; speed 1 is real time; 60 plays one minute per second.
    """

    def __init__(self, speed: float, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = speed
        self.monotonic, self.sleep = monotonic, sleep
        self._t0: datetime | None = None
        self._wall0 = 0.0

    def behind(self, t: datetime) -> bool:
        """Whether t goes out without waiting: as fast as possible, nothing is paced."""
        return self.speed == 0

    def wait(self, t: datetime, heartbeat: Callable[[], None] | None = None,
             every: float = 1.0) -> None:
        """Wait until t is due, calling `heartbeat` every `every` seconds meanwhile."""
        if self.speed == 0:
            return
        if self._t0 is None:
            self._t0, self._wall0 = t, self.monotonic()
            return
        due = self._wall0 + (t - self._t0).total_seconds() / self.speed
        while (delay := due - self.monotonic()) > 0:
            self.sleep(min(delay, every) if heartbeat else delay)
            if heartbeat and due - self.monotonic() > 0:
                heartbeat()


class WallClock:
    """Pace a live stream: `wait(t)` returns once the wall clock has reached t (never before:
    a bar is published only once it has ended), calling `heartbeat` every `every` seconds."""

    speed = 1.0

    def __init__(self, bar_seconds: float = 60.0) -> None:
        self.bar_seconds = bar_seconds

    def behind(self, t: datetime) -> bool:
        """A backfill: bars that ended more than a bar ago go out at once."""
        return t.timestamp() < time.time() - self.bar_seconds

    def wait(self, t: datetime, heartbeat: Callable[[], None] | None = None,
             every: float = 1.0) -> None:
        while (delay := t.timestamp() - time.time()) > 0:
            time.sleep(min(delay, every) if heartbeat else delay)
            if heartbeat and t.timestamp() > time.time():
                heartbeat()
