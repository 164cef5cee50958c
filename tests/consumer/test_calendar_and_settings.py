"""The NYSE calendar computed by rule, and the consumer's settings table."""

from __future__ import annotations

from datetime import date, datetime, timezone

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
    2025: ["2025-01-01", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-06-19",
           "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"],
    2026: ["2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
           "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"],
}


@pytest.mark.parametrize("year", sorted(NYSE))
def test_holidays_by_rule_match_the_exchange(year):
    assert sorted(d.isoformat() for d in calendar.holidays(year)) == NYSE[year]


def test_easter_computus():
    assert [calendar.easter(y) for y in (2000, 2019, 2024, 2038)] == [
        date(2000, 4, 23), date(2019, 4, 21), date(2024, 3, 31), date(2038, 4, 25)]


def test_new_year_on_saturday_is_not_observed_on_friday():
    assert calendar.is_trading_day(date(2021, 12, 31))
    assert calendar.is_trading_day(date(2021, 6, 18))  # no Juneteenth before 2022


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_regular_session_in_new_york_time_across_dst():
    assert calendar.is_open(utc(2024, 3, 5, 14, 30))  # 09:30 EST
    assert not calendar.is_open(utc(2024, 3, 5, 14, 29))
    assert not calendar.is_open(utc(2024, 3, 5, 21, 0))  # 16:00 EST: closed
    assert calendar.is_open(utc(2024, 7, 1, 13, 30))  # 09:30 EDT
    assert not calendar.is_open(utc(2024, 7, 6, 15, 0))  # Saturday
    assert not calendar.is_open(utc(2024, 12, 25, 15, 0))


def test_early_closes():
    assert calendar.is_open(utc(2024, 11, 29, 17, 59))  # day after Thanksgiving, 12:59 EST
    assert not calendar.is_open(utc(2024, 11, 29, 18, 0))
    assert not calendar.is_open(utc(2024, 12, 24, 18, 30))
    assert not calendar.is_open(utc(2024, 7, 3, 17, 0))
    assert calendar.close_time(date(2024, 7, 2)) == calendar.CLOSE


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
