"""Price bars as a table, and the time conventions every other module of the backtest shares.

* A bar's `time` is its END (the contract's event_time): the moment its close is known.
* A bar's start (when its open trades, see `calendar.bar_start`) is `time - bar length` for
  intraday bars, and the regular-session open (09:30 New York) of its day for daily bars.
* Bars per year (annualisation) come from the data's own spacing, see `bars_per_year`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from tradeflow.contracts import PriceBar
from tradeflow.trading import calendar

TRADING_DAYS_PER_YEAR = 252
DAILY_SPACING = calendar.DAILY_SPACING  # at least this far apart: one bar per day (or sparser)
WEEKLY_SPACING = timedelta(days=5)


COLUMNS = ["symbol", "time", "open", "high", "low", "close", "volume"]


def bars_table(bars: Iterable[PriceBar]) -> pd.DataFrame:
    """The bars as they come, one row each: the columns of `bars_frame` and `source`."""
    rows = [(b.symbol, b.event_time, b.open, b.high, b.low, b.close, b.volume, b.source)
            for b in bars]
    df = pd.DataFrame(rows, columns=[*COLUMNS, "source"])
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df


def bars_frame(bars: Iterable[PriceBar] | pd.DataFrame) -> pd.DataFrame:
    """symbol, time (UTC), open, high, low, close, volume; one row per (symbol, time), sorted.
    `bars`: PriceBars or a `bars_table`.

    Duplicates keep the first, as the SQL's `prices` view does, so execution sees the bars the
    signals were computed from.
    """
    df = (bars if isinstance(bars, pd.DataFrame) else bars_table(bars))[COLUMNS]
    df = df.drop_duplicates(["symbol", "time"], keep="first")
    return df.sort_values(["time", "symbol"], kind="stable").reset_index(drop=True)


def bar_spacing(df: pd.DataFrame) -> timedelta:
    """Median time between consecutive bars of the same symbol."""
    gaps = df.sort_values(["symbol", "time"]).groupby("symbol")["time"].diff().dropna()
    if gaps.empty:
        return timedelta(days=1)
    return gaps.median().to_pytimedelta()


def is_daily(df: pd.DataFrame) -> bool:
    return bar_spacing(df) >= DAILY_SPACING


@dataclass(frozen=True)
class Annualisation:
    bars_per_year: float
    convention: str


def bars_per_year(df: pd.DataFrame, grid: pd.DatetimeIndex | None = None) -> Annualisation:
    """How many equity-curve steps make a year.

    Daily bars: 252 (trading days). Weekly or sparser: 52. Intraday: 252 x the median number of
    steps per New York trading day actually present in the data, so regular-session minute bars
    give 252*390 and data with pre/post-market bars counts those bars too.
    """
    spacing = bar_spacing(df)
    if spacing >= WEEKLY_SPACING:
        return Annualisation(52.0, "weekly or sparser bars: 52 per year")
    if spacing >= DAILY_SPACING:
        return Annualisation(float(TRADING_DAYS_PER_YEAR), "daily bars: 252 per year")
    times = pd.DatetimeIndex(sorted(df["time"].unique())) if grid is None else grid
    per_day = pd.Series(1, index=times.tz_convert(calendar.NEW_YORK).date).groupby(level=0).sum()
    steps = float(per_day.median())
    return Annualisation(TRADING_DAYS_PER_YEAR * steps,
                         f"intraday bars ({spacing.total_seconds() / 60:g} min): 252 trading days"
                         f" x {steps:g} bars per day (median in the data)")


def finite(x: float | None) -> float | None:
    """JSON-safe number: None for NaN/inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def closes_wide(df: pd.DataFrame) -> pd.DataFrame:
    """Closes with one column per symbol on the union time grid (forward-filled: last known close)."""
    return df.pivot(index="time", columns="symbol", values="close").sort_index().ffill()


def daily_closes(df: pd.DataFrame) -> pd.DataFrame:
    """Last close of each New York trading day, one column per symbol (for 1-day risk figures)."""
    wide = closes_wide(df)
    day = wide.index.tz_convert(calendar.NEW_YORK).date
    return wide.groupby(day).last()

