"""Durations as people type them on a command line or in a setting: 90s, 30m, 6h, 2d."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def is_duration(text: str) -> bool:
    return bool(_DURATION.match(text.strip()))


def seconds(text: str) -> float:
    """Seconds in `text` (a positive number and a unit of s, m, h or d); ValueError if it is not one."""
    m = _DURATION.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 6h or 2d")
    return float(m.group(1)) * _UNIT[m.group(2)]


def ago(text: str, now: datetime | None = None) -> datetime:
    """The instant `text` before `now` (default: the wall clock); ValueError if it is not a
    duration or reaches back before the year 1."""
    length = seconds(text)
    try:
        return (now or datetime.now(timezone.utc)) - timedelta(seconds=length)
    except OverflowError:
        raise ValueError(f"{text.strip()} reaches back before the year 1") from None
