"""The NYSE calendar (exchange-calendars' XNYS), and the consumer's settings table."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone

import pytest

from tradeflow.trading import calendar
from tradeflow.config import ConsumerSettings, settings_markdown

NYSE = {  # published NYSE full-day closures
    2021: ["2021-01-01", "2021-01-18", "2021-02-15", "2021-04-02", "2021-05-31", "2021-07-05",
           "2021-09-06", "2021-11-25", "2021-12-24"],
    2022: ["2022-01-17", "2022-02-21", "2022-04-15", "2022-05-30", "2022-06-20", "2022-07-04",
           "2022-09-05", "2022-11-24", "2022-12-26"],
    2024: ["2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19",
           "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25"],
    2025: ["2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26",
           "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"],
    2026: ["2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
           "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"],
}

# Days the NYSE was closed that no holiday rule predicts.
ONE_OFF_CLOSURES = ["2001-09-11", "2001-09-12", "2001-09-13", "2001-09-14",  # 9/11
                    "2004-06-11",  # Reagan
                    "2007-01-02",  # Ford
                    "2012-10-29", "2012-10-30",  # Hurricane Sandy
                    "2018-12-05",  # G. H. W. Bush
                    "2025-01-09"]  # Carter


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def ny(d: str, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(d), time(hh, mm), calendar.NEW_YORK)


@pytest.mark.parametrize("year", sorted(NYSE))
def test_closures_match_the_exchange(year):
    assert sorted(d.isoformat() for d in calendar.holidays(year)) == NYSE[year]
    assert calendar.holidays(2024)[date(2024, 11, 28)] == "Thanksgiving"


@pytest.mark.parametrize("day", ONE_OFF_CLOSURES)
def test_one_off_closures_are_closed(day):
    d = date.fromisoformat(day)
    assert not calendar.is_trading_day(d) and calendar.session(d) is None
    assert not calendar.is_open(ny(day, 11))
    assert d in calendar.holidays(d.year)


def test_new_year_on_saturday_is_not_observed_on_friday():
    assert calendar.is_trading_day(date(2021, 12, 31))
    assert calendar.is_trading_day(date(2021, 6, 18))  # no Juneteenth before 2022


def test_regular_session_in_new_york_time_across_dst():
    assert calendar.session(date(2024, 3, 5)) == (ny("2024-03-05", 9, 30), ny("2024-03-05", 16))
    assert calendar.close_time(date(2024, 7, 2)) == calendar.CLOSE
    assert calendar.is_open(utc(2024, 3, 5, 14, 30))  # 09:30 EST
    assert not calendar.is_open(utc(2024, 3, 5, 14, 29))
    assert not calendar.is_open(utc(2024, 3, 5, 21, 0))  # 16:00 EST: closed
    assert calendar.is_open(utc(2024, 7, 1, 13, 30))  # 09:30 EDT
    assert not calendar.is_open(utc(2024, 7, 6, 15, 0))  # Saturday
    assert not calendar.is_open(utc(2024, 12, 25, 15, 0))
    assert calendar.close_time(date(2024, 7, 6)) is None


@pytest.mark.parametrize("day", ["2023-11-24", "2019-07-03", "2024-12-24", "2024-11-29",
                                 "2024-07-03", "2013-07-03",
                                 "2002-07-05", "2003-12-26"])  # two no rule of thumb gives
def test_early_closes_at_13(day):
    d = date.fromisoformat(day)
    assert calendar.session(d) == (ny(day, 9, 30), ny(day, 13))
    assert calendar.close_time(d) == calendar.EARLY_CLOSE
    assert calendar.is_open(ny(day, 12, 59)) and not calendar.is_open(ny(day, 13))


def test_july_3_2002_was_a_full_day():  # the early close was on Friday the 5th
    assert calendar.close_time(date(2002, 7, 3)) == calendar.CLOSE


def test_far_future_and_past_within_the_range():
    # Years after the package's release: its holiday rules, extrapolated.
    assert calendar.session(date(2150, 6, 2)) == (ny("2150-06-02", 9, 30), ny("2150-06-02", 16))
    assert not calendar.is_trading_day(date(2150, 12, 25))
    assert calendar.close_time(date(2150, 11, 27)) == calendar.EARLY_CLOSE  # after Thanksgiving
    assert calendar.is_trading_day(date(calendar.MAX_YEAR, 12, 30))
    assert not calendar.is_trading_day(date(1963, 11, 25))  # Kennedy's funeral
    assert calendar.is_trading_day(date(calendar.MIN_YEAR, 1, 2))
    # Across a decade's edge (each decade is built on its own).
    assert calendar.session(date(2029, 12, 31)) is not None
    assert not calendar.is_trading_day(date(2030, 1, 1)) and calendar.is_trading_day(
        date(2030, 1, 2))


def test_beyond_the_range_the_market_is_closed(caplog, monkeypatch):
    monkeypatch.setattr(calendar, "_warned", set())
    assert calendar.session(date(calendar.MAX_YEAR + 1, 1, 3)) is None
    assert not calendar.is_open(utc(2300, 6, 1, 15))
    assert not calendar.is_open(utc(calendar.MIN_YEAR - 1, 6, 1, 15))
    assert calendar.holidays(2300) == {}
    assert "no XNYS calendar for 2300" in caplog.text
    assert caplog.text.count("2300") == 1  # once, not per bar


def test_sessions_are_built_once_per_decade(monkeypatch):
    built = []
    real = calendar._build
    monkeypatch.setattr(calendar, "_decades", {})
    monkeypatch.setattr(calendar, "_build", lambda first: built.append(first) or real(first))
    for minute in range(0, 7 * 24 * 60, 7):  # a week of bars, as the simulator asks
        t = utc(2024, 3, 4) + timedelta(minutes=minute)
        calendar.is_open(t)
        calendar.session(t.date())
    assert built == [2020]
    assert calendar.session(date(2024, 3, 5)) is calendar.session(date(2024, 3, 5))


@pytest.mark.integration
def test_importing_the_calendar_does_not_load_pandas():
    code = ("import sys, tradeflow.trading.calendar; "
            "sys.exit('exchange_calendars' in sys.modules or 'pandas' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_setting_has_an_env_name_and_description():
    table = settings_markdown()
    for field in ConsumerSettings.model_fields.values():
        name = field.validation_alias.choices[0]
        assert field.description and f"| `{name}` |" in table
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_API_URL", "TRADEFLOW_AUDIT_DB",
                 "TRADEFLOW_KILL_SWITCH", "TRADEFLOW_RISK_STALE_SECONDS", "TRADEFLOW_ALLOW_SHORT",
                 "TRADEFLOW_BRACKET_ORDERS", "TRADEFLOW_RISK_CLOCK"):
        assert f"`{name}`" in table


def test_slack_token_is_secret(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-never-print-me")
    assert "xoxb-never-print-me" not in repr(ConsumerSettings())
