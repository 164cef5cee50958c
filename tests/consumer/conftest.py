"""Helpers for the consumer tests: signal records, a harness that builds consumers over one data
directory (as restarts do), and readers for the topics they write."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tradeflow.trading.executors.base import client_order_id
from consumer.service import Consumer, build_consumer
from tradeflow.config import ConsumerSettings, get_consumer_settings
from tools.stubs.alpaca_trading import AlpacaTradingStub
from tools.stubs.slack import SlackStub
from tradeflow.config import DEAD_LETTER, ORDERS, PRICES, SIGNALS, Settings, get_settings
from tradeflow.contracts import DeadLetter, Order, PriceBar, parse
from tradeflow.topics import Record
from tradeflow.topics.file import FileBackend

# A Tuesday, 10:00 in New York: inside the regular session, for the simulator's signal clock.
IN_SESSION = datetime(2024, 3, 5, 15, 0, tzinfo=timezone.utc)
KEY_ID, SECRET = "PKTESTKEYID0123456789", "alpaca-secret-DO-NOT-LEAK-42"
SLACK_TOKEN = "xoxb-1234-5678-slack-secret-token"


def wire(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def signal(**over: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    rec: dict[str, Any] = {
        "v": 1, "signal_id": f"sig-{uuid.uuid4().hex[:12]}", "symbol": "AAPL", "action": "BUY",
        "strength": "STRONG", "confidence": 0.8, "price": 100.0,
        "bar_time": now - timedelta(seconds=5), "emitted_at": now,
        "indicators": {"rsi_14": 27.5, "sma_20": 99.0}, "sentiment": 0.4,
        "reason": "RSI oversold & price above SMA20", "strategy": "confluence",
        "strategy_version": "1"}
    rec.update(over)
    for k in ("bar_time", "emitted_at"):
        if isinstance(rec[k], datetime):
            rec[k] = wire(rec[k])
    return rec


def line(**over: Any) -> bytes:
    return json.dumps(signal(**over)).encode()


def bar(symbol: str, t: datetime, open_: float, high: float | None = None,
        low: float | None = None, close: float | None = None) -> bytes:
    """A `stock-prices` record: the paper broker's market (it fills at a bar's open)."""
    close = open_ if close is None else close
    return json.dumps({"v": 1, "symbol": symbol, "event_time": wire(t), "open": open_,
                       "high": max(open_, close) if high is None else high,
                       "low": min(open_, close) if low is None else low, "close": close,
                       "volume": 1000.0, "source": "test"}).encode()


def fill(c: Consumer, raw: bytes, open_: float | None = None) -> str:
    """Decide a signal, then hand the paper broker its symbol's next bar (opening at the
    signal's price unless told): an approved market order fills there."""
    rec = json.loads(raw)
    out = c.handle_raw(raw)
    at = datetime.fromisoformat(rec["bar_time"].replace("Z", "+00:00")) + timedelta(minutes=1)
    c.handle_bar(parse(PriceBar, bar(rec["symbol"].upper(), at,
                                      rec["price"] if open_ is None else open_)))
    return out


class Harness:
    """Builds consumers the way `tradeflow consume` does, over the test's data directory."""

    def __init__(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.data = settings.path()
        self.sleeps: list[float] = []
        self._groups = 0
        self.backends: list[FileBackend] = []
        self.consumers: list[Consumer] = []
        # Test speed: no waiting between polls, tiny backoffs, short timeouts.
        self.env(TRADEFLOW_ORDER_POLL_SECONDS="0.001", TRADEFLOW_ORDER_WAIT_SECONDS="2",
                 TRADEFLOW_BROKER_BACKOFF_SECONDS="0.001", TRADEFLOW_BROKER_TIMEOUT_SECONDS="0.5",
                 TRADEFLOW_RISK_COOLDOWN_SECONDS="0", TRADEFLOW_PAPER_SLIPPAGE_BPS="0")
        for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "SLACK_BOT_TOKEN", "SLACK_CHANNEL",
                     "TRADEFLOW_BROKER", "TRADEFLOW_RISK_CLOCK"):
            monkeypatch.delenv(name, raising=False)

    def env(self, **values: str) -> None:
        for k, v in values.items():
            self.monkeypatch.setenv(k, str(v))

    def alpaca(self, stub: AlpacaTradingStub) -> None:
        self.env(APCA_API_KEY_ID=stub.key_id, APCA_API_SECRET_KEY=stub.secret,
                 APCA_API_BASE_URL=stub.url)

    def slack(self, stub: SlackStub) -> None:
        self.env(SLACK_BOT_TOKEN=stub.token, SLACK_CHANNEL=stub.channel, SLACK_API_URL=stub.api_url)

    def settings(self) -> tuple[Settings, ConsumerSettings]:
        get_settings.cache_clear()
        get_consumer_settings.cache_clear()
        return get_settings(), get_consumer_settings()

    def backend(self) -> FileBackend:
        b = FileBackend(self.data, segment_seconds=0.05)
        self.backends.append(b)
        return b

    def consumer(self, **env: str) -> Consumer:
        self.env(**env)
        shared, cs = self.settings()
        c = build_consumer(shared, cs, self.backend(), sleep=self.sleeps.append)
        self.consumers.append(c)
        return c

    def publish_signals(self, lines: list[bytes]) -> None:
        b = self.backend()
        b.publish(SIGNALS, [Record("k", x) for x in lines])
        b.flush()

    def publish_bars(self, lines: list[bytes]) -> None:
        b = self.backend()
        b.publish(PRICES, [Record("k", x) for x in lines])
        b.flush()

    def read(self, topic: str) -> list[bytes]:
        for b in self.backends:
            b.flush()
        self._groups += 1
        sub = FileBackend(self.data).subscribe(topic, f"test-reader-{self._groups}")
        out: list[bytes] = []
        while batch := sub.poll(timeout=0):
            out += [m.value for m in batch]
        return out

    def orders(self) -> list[Order]:
        return [parse(Order, raw) for raw in self.read(ORDERS)]

    def dead_letters(self) -> list[DeadLetter]:
        return [parse(DeadLetter, raw) for raw in self.read(DEAD_LETTER)]

    def close(self) -> None:
        for c in self.consumers:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - a test may have closed it already
                pass
        for b in self.backends:
            b.close()


@pytest.fixture
def h(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    harness = Harness(settings, monkeypatch)
    yield harness
    harness.close()
    get_consumer_settings.cache_clear()


@pytest.fixture
def alpaca() -> Iterator[AlpacaTradingStub]:
    with AlpacaTradingStub(key_id=KEY_ID, secret=SECRET, prices={"AAPL": 101.0}) as stub:
        yield stub


@pytest.fixture
def slack() -> Iterator[SlackStub]:
    with SlackStub(token=SLACK_TOKEN) as stub:
        yield stub


def decisions(c: Consumer, signal_id: str | None = None) -> list[dict[str, Any]]:
    from tradeflow.trading.audit import query

    return query(c.store, kind="decision", signal_id=signal_id)


def statuses(orders: list[Order], coid: str) -> list[str]:
    return [o.status.value for o in orders if o.client_order_id == coid]


__all__ = ["IN_SESSION", "KEY_ID", "SECRET", "SLACK_TOKEN", "Harness", "bar", "client_order_id",
           "decisions", "fill", "line", "signal", "statuses", "wire", "Path"]
