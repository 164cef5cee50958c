"""The US equity regular session (NYSE), computed by rule: no calendar file to go out of date.

Regular session 09:30-16:00 America/New_York on weekdays that are not exchange holidays; 13:00
close on the usual early-close days (July 3, the day after Thanksgiving, December 24, when they
are trading days). Holidays follow NYSE Rule 7.2: a holiday on Saturday is observed the Friday
before, on Sunday the Monday after, except New Year's Day on a Saturday, which is not observed
(the exchange does not close on the last trading day of the year). One-off closures (national
days of mourning, storms) are not predictable by rule and are not included; on Alpaca the broker's
own clock is used instead of this module.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
OPEN = time(9, 30)
CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (Mon=0) of the month; n=-1 for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


@lru_cache(maxsize=64)
def holidays(year: int) -> dict[date, str]:
    """Full-day NYSE closures of `year` (observed dates), by name."""
    out: dict[date, str] = {}
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:  # Saturday: not observed on Dec 31 of the year before
        out[_observed(new_year)] = "New Year's Day"
    out[_nth_weekday(year, 1, 0, 3)] = "Martin Luther King Jr. Day"
    out[_nth_weekday(year, 2, 0, 3)] = "Washington's Birthday"
    out[easter(year) - timedelta(days=2)] = "Good Friday"
    out[_nth_weekday(year, 5, 0, -1)] = "Memorial Day"
    if year >= 2022:
        out[_observed(date(year, 6, 19))] = "Juneteenth"
    out[_observed(date(year, 7, 4))] = "Independence Day"
    out[_nth_weekday(year, 9, 0, 1)] = "Labor Day"
    out[_nth_weekday(year, 11, 3, 4)] = "Thanksgiving Day"
    out[_observed(date(year, 12, 25))] = "Christmas Day"
    return out


def is_trading_day(d: date) -> bool:
    return d.weekday() < 5 and d not in holidays(d.year)


def close_time(d: date) -> time:
    """Regular close of a trading day `d` (13:00 on early-close days)."""
    thanksgiving = _nth_weekday(d.year, 11, 3, 4)
    early = {thanksgiving + timedelta(days=1), date(d.year, 7, 3), date(d.year, 12, 24)}
    return EARLY_CLOSE if d in early else CLOSE


def session(d: date) -> tuple[datetime, datetime] | None:
    """Open and close (aware, New York time) of the regular session on `d`, or None if closed."""
    if not is_trading_day(d):
        return None
    return (datetime.combine(d, OPEN, NEW_YORK), datetime.combine(d, close_time(d), NEW_YORK))


def is_open(t: datetime) -> bool:
    """Whether the regular session is open at the aware instant `t` (open inclusive, close not)."""
    local = t.astimezone(NEW_YORK)
    bounds = session(local.date())
    return bounds is not None and bounds[0] <= local < bounds[1]


def trading_day(t: datetime) -> date:
    """The New York calendar date of `t`: the unit of the daily loss limit."""
    return t.astimezone(NEW_YORK).date()
