"""Helpers for the dashboard tests: records built with the shared contracts, a file backend in a
temporary data dir, and a dashboard served on 127.0.0.1 (port 0) inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from tradeflow.config import Settings
from tradeflow.contracts import NewsItem, Order, PriceBar, TradingSignal, build
from tradeflow.topics import Record, open_backend

from dashboard.server import Dashboard, Options, start_server
from dashboard.snapshot import Limits
from tradeflow.strategy import STRATEGY_PATH

T0 = datetime(2024, 3, 5, 14, 31, tzinfo=timezone.utc)  # 09:31 New York


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def bar(symbol: str, minute: float, o: float, h: float, low: float, c: float,
        v: float) -> PriceBar:
    return build(PriceBar, symbol=symbol, event_time=at(minute), open=o, high=h, low=low, close=c,
                 volume=v, source="test")


def walk(symbol: str, n: int, start_minute: int = 0, price: float = 100.0) -> list[PriceBar]:
    out = []
    for i in range(n):
        o = price + ((i * 7) % 5 - 2) * 0.1
        c = o + ((i * 3) % 7 - 3) * 0.05
        out.append(bar(symbol, start_minute + i, o, max(o, c) + 0.2, min(o, c) - 0.2, c,
                       1000 + 10 * i))
        price = c
    return out


def signal(symbol: str, minute: float, action: str = "BUY", price: float = 100.0,
           sid: str | None = None, sentiment: float | None = 0.3) -> TradingSignal:
    return build(TradingSignal, signal_id=sid or f"sig-{symbol}-{minute}-{action}", symbol=symbol,
                 action=action, strength="NORMAL", confidence=0.7, price=price,
                 bar_time=at(minute), emitted_at=at(minute) + timedelta(seconds=1),
                 indicators={"sma_20": price, "rsi_14": 50.0, "macd": None},
                 sentiment=sentiment, reason="test setup", strategy="test",
                 strategy_version="1")


def order(coid: str, symbol: str, side: str, qty: float, filled: float = 0.0,
          avg: float | None = None, status: str = "filled", sid: str = "sig",
          when: datetime | None = None, bar_time: datetime | None = None,
          fill_bar_time: datetime | None = None) -> Order:
    when = when or datetime.now(timezone.utc)
    return build(Order, client_order_id=coid, signal_id=sid, symbol=symbol, side=side, qty=qty,
                 status=status, broker="paper", filled_qty=filled, filled_avg_price=avg,
                 submitted_at=when, updated_at=when, bar_time=bar_time,
                 fill_bar_time=fill_bar_time)


def news(nid: str, symbol: str, minute: float, headline: str) -> NewsItem:
    return build(NewsItem, id=nid, symbols=[symbol], headline=headline, source="test",
                 published_at=at(minute))


# Indicator settings other than strategy.toml's, for the tests of the page following the file.
OTHER_PERIODS = {"sma_fast": 7, "ema_fast": 5, "rsi": 9, "macd_fast": 8, "macd_slow": 17,
                 "macd_signal": 5, "bb_period": 10, "bb_stddev": 1.5, "rsi_oversold": 25,
                 "rsi_overbought": 75}


def strategy_with(tmp_path: Path, values: dict[str, object]) -> Path:
    """A copy of strategy.toml with `values` in place of its own (each key set where it is)."""
    text = STRATEGY_PATH.read_text(encoding="utf-8")
    for key, value in values.items():
        text, n = re.subn(rf"^{key} = \S+", f"{key} = {value}", text, flags=re.MULTILINE)
        assert n == 1, f"strategy.toml has no single {key}"
    out = tmp_path / "strategy.toml"
    out.write_text(text, encoding="utf-8")
    return out


def publish(backend, topic: str, records) -> None:
    backend.publish(topic, [Record(r.key, r.to_json()) for r in records])
    backend.flush()


@pytest.fixture
def data_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # The kill switch is found through the consumer settings: point them at this data dir too.
    monkeypatch.setenv("TRADEFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TRADEFLOW_KILL_SWITCH", raising=False)
    from tradeflow.config import get_consumer_settings, get_settings

    get_settings.cache_clear()
    get_consumer_settings.cache_clear()
    yield Settings(TRADEFLOW_DATA_DIR=str(tmp_path / "data"), TRADEFLOW_BACKEND="file",
                   TRADEFLOW_FILE_SEGMENT_SECONDS=0.1)
    get_settings.cache_clear()
    get_consumer_settings.cache_clear()


@pytest.fixture
def backend(data_settings: Settings):
    b = open_backend("file", data_settings)
    yield b
    b.close()


def fast_options(**kw) -> Options:
    base = dict(tick=0.05, summary_interval=0.1, status_interval=0.2, flink_url="http://127.0.0.1:9",
                score_headlines=False, heartbeat=None, limits=Limits(bars_per_symbol=100))
    base.update(kw)
    return Options(**base)


@contextlib.asynccontextmanager
async def serve(backend, settings: Settings, **opts) -> AsyncIterator[tuple[Dashboard, str]]:
    """A running dashboard; yields it and its base URL. Waits for the topics' history."""
    dash = Dashboard(backend, settings, fast_options(**opts))
    runner, port = await start_server(dash)
    try:
        await wait_until(lambda: all(h["caught_up"] for h in dash.feed.status().values()))
        yield dash, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def wait_until(cond, timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


async def receive_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return msg.json()
