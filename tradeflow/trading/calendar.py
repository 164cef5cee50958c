"""The US equity regular session: the NYSE (XNYS) calendar of the `exchange-calendars` package.

A maintained calendar rather than one computed by rule: it has the one-off closures no rule
predicts (days of national mourning, 9/11, Hurricane Sandy) and the early closes as they were
(13:00 the day after Thanksgiving, on July 3 or 5 and December 24 by the exchange's rules and its
exceptions; 14:00 before 1993). Sessions are 09:30-16:00 New York time on every day the package
models (it does not model the 10:00 opens before 1985 or the Saturday sessions before 1952). On
Alpaca the broker's own clock is used instead of this module.

`exchange-calendars` builds a calendar for a fixed range (by default 20 years back to 1 year
ahead, raising outside it). This module builds one per decade, on first use, for any date in
MIN_YEAR..MAX_YEAR, and keeps each decade's sessions as plain datetimes, so the question the
simulator asks for every bar is a dict look-up. Years after the pinned package's release are its
holiday rules extrapolated: no one-off closure, no holiday decided later (update the pin).
Outside MIN_YEAR..MAX_YEAR there is no session: the market counts as closed, and a warning is
logged (once per year asked for).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
OPEN = time(9, 30)
CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)
EXCHANGE = "XNYS"
MIN_YEAR, MAX_YEAR = 1900, 2199  # pandas' nanosecond timestamps end in 2262
_DECADE = 10


@dataclass(frozen=True)
class _Decade:
    sessions: dict[date, tuple[datetime, datetime]]  # open, close in New York time
    closures: dict[date, str]  # weekdays without a session, by name


_decades: dict[int, _Decade] = {}
_lock = threading.Lock()
_warned: set[int] = set()  # years outside the range already logged


def _build(first: int) -> _Decade:
    # Imported here: pandas and exchange-calendars cost about half a second, paid by the first
    # process that asks, not by everything that imports this module.
    from exchange_calendars.exchange_calendar_xnys import XNYSExchangeCalendar

    start = date(max(first, MIN_YEAR), 1, 1)
    end = date(min(first + _DECADE - 1, MAX_YEAR), 12, 31)
    cal = XNYSExchangeCalendar(start=start.isoformat(), end=end.isoformat())
    sch = cal.schedule
    sessions = {day.date(): (o.to_pydatetime().astimezone(NEW_YORK),
                             c.to_pydatetime().astimezone(NEW_YORK))
                for day, o, c in zip(sch.index, sch["open"], sch["close"])}
    named = cal.regular_holidays.holidays(start, end, return_name=True)
    names = {ts.date(): str(name) for ts, name in named.items()}
    closures = {d: names.get(d, "special closure") for d in _weekdays(start, end)
                if d not in sessions}
    return _Decade(sessions, closures)


def _weekdays(start: date, end: date) -> Iterator[date]:
    d = start
    while d <= end:
        if d.weekday() < 5:
            yield d
        d += timedelta(days=1)


def _decade(year: int) -> _Decade | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        if year not in _warned:
            _warned.add(year)
            log.warning("no %s calendar for %d (only %d..%d): the market counts as closed",
                        EXCHANGE, year, MIN_YEAR, MAX_YEAR)
        return None
    first = year - year % _DECADE
    got = _decades.get(first)
    if got is None:
        with _lock:
            got = _decades.get(first)
            if got is None:
                got = _decades[first] = _build(first)
    return got


def prepare(years: Iterable[int]) -> None:
    """Build the calendars of `years` now rather than at their first question (a backtest does
    it while its Flink job runs)."""
    for year in years:
        _decade(int(year))


def holidays(year: int) -> dict[date, str]:
    """Weekdays of `year` without a session (holidays as observed, one-off closures), by name."""
    dec = _decade(year)
    if dec is None:
        return {}
    return {d: name for d, name in sorted(dec.closures.items()) if d.year == year}


def session(d: date) -> tuple[datetime, datetime] | None:
    """Open and close (aware, New York time) of the regular session on `d`, or None if closed."""
    dec = _decade(d.year)
    return None if dec is None else dec.sessions.get(d)


def is_trading_day(d: date) -> bool:
    return session(d) is not None


def close_time(d: date) -> time | None:
    """Close (New York time) of the session on `d`: 13:00 on early-close days; None if closed."""
    bounds = session(d)
    return None if bounds is None else bounds[1].time()


def is_open(t: datetime) -> bool:
    """Whether the regular session is open at the aware instant `t` (open inclusive, close not)."""
    local = t.astimezone(NEW_YORK)
    bounds = session(local.date())
    return bounds is not None and bounds[0] <= local < bounds[1]


def trading_day(t: datetime) -> date:
    """The New York calendar date of `t`: the unit of the daily loss limit."""
    return t.astimezone(NEW_YORK).date()


DAILY_SPACING = timedelta(hours=20)  # bars at least this far apart are daily (or sparser)


def bar_start(end: datetime, spacing: timedelta) -> datetime:
    """When the bar that ends at `end` opened, the moment its open price was tradeable: the
    session's open for a daily bar, `end - spacing` for an intraday one."""
    if spacing >= DAILY_SPACING:
        sess = session(end.astimezone(NEW_YORK).date())
        return sess[0] if sess is not None else end - timedelta(hours=6, minutes=30)
    return end - spacing
