"""Counts and rates of what a producer published, shown live on a terminal or logged otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter

from rich.console import Console
from rich.live import Live

from tradeflow.config import DEAD_LETTER

log = logging.getLogger(__name__)


class Progress:
    """Call `add(topic, n)` as records go out; `update()` refreshes at most every `every` seconds.
    With a `total` (records expected, dead letters apart), the line gives the share done and an
    estimate of the time left at the rate so far."""

    def __init__(self, label: str, every: float = 5.0, live: bool | None = None) -> None:
        self.label = label
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self.total: int | None = None
        self._every = every if not live else 0.25
        self._last = 0.0
        tty = sys.stderr.isatty() if live is None else live
        self._live = Live(console=Console(stderr=True), auto_refresh=False) if tty else None
        if self._live:
            self._live.start()

    def add(self, topic: str, n: int = 1) -> None:
        self.counts[topic] += n
        self.update()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        parts = [f"{n} {t} ({n / elapsed:,.1f}/s)" for t, n in sorted(self.counts.items())]
        text = f"{self.label}: " + (", ".join(parts) or "nothing yet") + f" in {elapsed:,.0f}s"
        done = sum(n for t, n in self.counts.items() if t != DEAD_LETTER)
        if self.total and done:
            left = elapsed / done * max(self.total - done, 0)
            text += f", {done:,}/{self.total:,} ({done / self.total:.0%}), ETA {left:,.0f}s"
        return text

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._every:
            return
        self._last = now
        if self._live:
            self._live.update(self.line(), refresh=True)
        else:
            log.info("%s", self.line())

    def close(self) -> None:
        if self._live:
            self._live.stop()
            self._live = None
        log.info("%s", self.line())
