"""Hand-made bars and signals for the backtest tests (no Flink), and the rows a run wrote."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from backtest.data import bars_frame
from backtest.run import read_part_lines
from tradeflow.contracts import PriceBar, TradingSignal, build

NY = ZoneInfo("America/New_York")
# 2024-03-04 is a Monday; no holiday in the two weeks that follow.
DAYS = [date(2024, 3, 4) + timedelta(days=i) for i in range(14)
        if (date(2024, 3, 4) + timedelta(days=i)).weekday() < 5]


def daily_end(i: int) -> datetime:
    """Bar end of the i-th trading day: 16:00 New York, as the importers stamp daily bars."""
    return datetime.combine(DAYS[i], time(16, 0), NY).astimezone(timezone.utc)


def daily_bars(symbol: str, opens: list[float], closes: list[float], first_day: int = 0) -> list[PriceBar]:
    return [build(PriceBar, symbol=symbol, event_time=daily_end(first_day + i), open=o,
                  high=max(o, c), low=min(o, c), close=c, volume=1000.0, source="test")
            for i, (o, c) in enumerate(zip(opens, closes))]


def minute_bars(symbol: str, ends: list[datetime], opens: list[float], closes: list[float]) -> list[PriceBar]:
    return [build(PriceBar, symbol=symbol, event_time=t, open=o, high=max(o, c), low=min(o, c),
                  close=c, volume=10.0, source="test") for t, o, c in zip(ends, opens, closes)]


def frame(*bar_lists: list[PriceBar]) -> pd.DataFrame:
    return bars_frame([b for bars in bar_lists for b in bars])


def signal(symbol: str, action: str, bar_time: datetime, price: float, confidence: float = 0.9,
           sid: str | None = None) -> TradingSignal:
    return build(TradingSignal, signal_id=sid or f"{symbol}-{action}-{bar_time.isoformat()}",
                 symbol=symbol, action=action, strength="NORMAL", confidence=confidence,
                 price=price, bar_time=bar_time, emitted_at=bar_time, indicators={},
                 reason="hand-made", strategy="test", strategy_version="1")


def read_parts(part_dir: Path) -> list[dict[str, Any]]:
    """Rows of the committed part files a filesystem sink wrote."""
    return [json.loads(line) for line in read_part_lines(part_dir)]
