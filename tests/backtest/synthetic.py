"""A synthetic minute series that makes the confluence rules fire a handful of times."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

START = datetime(2024, 3, 5, 14, 31, tzinfo=timezone.utc)  # 09:31 New York: first bar end


def bar_times(n: int) -> list[datetime]:
    return [START + timedelta(minutes=i) for i in range(n)]


def write_prices(path: Path, n: int = 360, symbols: tuple[str, ...] = ("AAA", "BBB")) -> list[datetime]:
    """Normalized price CSV: sine swings (RSI, MACD and band crossings) on a drift, plus noise."""
    times = bar_times(n)
    rng = np.random.default_rng(11)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "timestamp", "open", "high", "low", "close", "volume"])
        for k, sym in enumerate(symbols):
            i = np.arange(n)
            close = 100 + 4 * np.sin(2 * np.pi * i / (45 + 10 * k)) + 0.01 * i + rng.normal(0, 0.25, n)
            opens = np.concatenate([[close[0]], close[:-1]]) + rng.normal(0, 0.05, n)
            for t, o, c in zip(times, opens, close):
                w.writerow([sym, t.isoformat().replace("+00:00", "Z"), f"{o:.4f}",
                            f"{max(o, c) + 0.05:.4f}", f"{min(o, c) - 0.05:.4f}", f"{c:.4f}", 100])
    return times


def write_news(path: Path, items: list[tuple[datetime, str, str]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "symbols", "headline", "published_at"])
        for k, (t, sym, headline) in enumerate(items):
            w.writerow([f"n{k}", sym, headline, t.isoformat().replace("+00:00", "Z")])


def write_prefix_case(full: Path, part: Path, n: int, k: int,
                      news: list[tuple[datetime, str, str]]) -> str:
    """prices.csv and news.csv of `n` bars per symbol in `full`, and of their first `k` bars
    (with the news published by then) in `part`; returns the k-th bar's time as the wire has it."""
    full.mkdir()
    part.mkdir()
    times = write_prices(full / "prices.csv", n)
    write_news(full / "news.csv", news)
    stamp = times[k - 1].isoformat().replace("+00:00", "Z")
    lines = (full / "prices.csv").read_text().splitlines()
    (part / "prices.csv").write_text("\n".join([lines[0]] + [ln for ln in lines[1:]
                                                            if ln.split(",")[1] <= stamp]) + "\n")
    write_news(part / "news.csv", [item for item in news if item[0] <= times[k - 1]])
    return stamp

# A grid of three parameter sets: the defaults; other rules (a setup off); other indicator
# periods and horizon.
GRID = [{}, {"rsi_oversold": 40, "rsi_overbought": 60, "macd_setup": "off"},
        {"sma_fast": 10, "horizon_bars": 15}]
