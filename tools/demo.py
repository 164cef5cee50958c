"""A small, real pipeline run in a data directory, for the browser test and the screenshot.

1. `tradeflow produce sim --speed 0 --bars N` publishes simulated bars and headlines (a regular
   session morning, so the consumer's market-hours rule lets orders through);
2. signals are written to `trading-signals` with the TradingSignal contract by a simple moving-
   average crossover over those bars (a stand-in for the Flink job, which takes a JVM and tens of
   seconds; the dashboard cannot tell the difference);
3. `tradeflow consume --once --broker paper` risk-checks them and publishes orders (paper fills).

Everything runs as `tradeflow` subprocesses on the file backend; the dashboard imports no service.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict, deque
from datetime import datetime, timedelta
from pathlib import Path

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS, Settings
from tradeflow.contracts import NewsItem, PriceBar, TradingSignal, build, parse
from tradeflow.topics import Record, open_backend, read_all

DEMO_START = "2024-03-05T14:31:00Z"  # 09:31 New York on a trading Tuesday
DEMO_SYMBOLS = "AAPL,MSFT,NVDA,AMZN"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TRADEFLOW_DATA_DIR": str(data_dir), "TRADEFLOW_BACKEND": "file",
                "TRADEFLOW_FILE_SEGMENT_SECONDS": "0.2", **extra})
    for secret in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "SLACK_BOT_TOKEN"):
        env.pop(secret, None)  # a demo never reaches a real account or channel
    return env


def tradeflow(data_dir: Path, *args: str, timeout: float = 60, **env: str) -> str:
    """Run a `tradeflow` subcommand on the data dir; returns its combined output."""
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", *args], env=_env(data_dir, **env),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"tradeflow {' '.join(args)} failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def settings_for(data_dir: Path) -> Settings:
    return Settings(TRADEFLOW_DATA_DIR=str(data_dir), TRADEFLOW_BACKEND="file",
                    TRADEFLOW_FILE_SEGMENT_SECONDS=0.2)


def _read_all(data_dir: Path, topic: str) -> list[bytes]:
    with open_backend("file", settings_for(data_dir)) as backend:
        return read_all(backend, topic, timeout=0.05)


def crossover_signals(bars: list[PriceBar], news: list[NewsItem], fast: int = 5,
                      slow: int = 20) -> list[TradingSignal]:
    """BUY when the fast SMA crosses above the slow one, SELL when below, with the indicator
    values and the mean headline tone of the last 30 minutes attached."""
    from tradeflow.sentiment import get_scorer

    score = get_scorer("finance")
    tones: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for n in news:
        for sym in n.symbols:
            tones[sym].append((n.published_at, score(n.headline).score))
    closes: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=slow + 1))
    out: list[TradingSignal] = []
    for b in sorted(bars, key=lambda b: (b.event_time, b.symbol)):
        cs = closes[b.symbol]
        cs.append(b.close)
        if len(cs) <= slow:
            continue
        prev, now = list(cs)[:-1], list(cs)
        f0, s0 = sum(prev[-fast:]) / fast, sum(prev[-slow:]) / slow
        f1, s1 = sum(now[-fast:]) / fast, sum(now[-slow:]) / slow
        if (f0 <= s0) == (f1 <= s1):
            continue
        action = "BUY" if f1 > s1 else "SELL"
        recent = [v for t, v in tones[b.symbol]
                  if b.event_time - timedelta(minutes=30) < t <= b.event_time]
        sentiment = round(sum(recent) / len(recent), 3) if recent else None
        gap = abs(f1 - s1) / s1
        conf = round(min(0.95, 0.6 + gap * 200), 3)
        out.append(build(
            TradingSignal, signal_id=f"demo-{b.symbol}-{int(b.event_time.timestamp())}",
            symbol=b.symbol, action=action, strength="STRONG" if conf >= 0.8 else "NORMAL",
            confidence=conf, price=b.close, bar_time=b.event_time,
            emitted_at=b.event_time + timedelta(milliseconds=400),
            indicators={f"sma_{fast}": round(f1, 4), f"sma_{slow}": round(s1, 4)},
            sentiment=sentiment,
            reason=f"SMA {fast} crossed {'above' if action == 'BUY' else 'below'} SMA {slow}",
            strategy="demo-crossover", strategy_version="1",
            stop_loss=round(b.close * (0.98 if action == "BUY" else 1.02), 2),
            take_profit=round(b.close * (1.04 if action == "BUY" else 0.96), 2),
            horizon_bars=30))
    return out


def build_demo(data_dir: Path, bars: int = 240, symbols: str = DEMO_SYMBOLS, seed: int = 11,
               start: str = DEMO_START) -> dict[str, int]:
    """Run the three steps above into `data_dir`; returns how many records each topic got."""
    data_dir = Path(data_dir).resolve()
    tradeflow(data_dir, "produce", "sim", "--speed", "0", "--bars", str(bars), "--seed",
              str(seed), "--symbols", symbols, "--start", start)
    price_bars = [parse(PriceBar, raw) for raw in _read_all(data_dir, PRICES)]
    news = [parse(NewsItem, raw) for raw in _read_all(data_dir, NEWS)]
    signals = crossover_signals(price_bars, news)
    with open_backend("file", settings_for(data_dir)) as backend:
        backend.publish(SIGNALS, [Record(s.symbol, s.to_json()) for s in signals])
    tradeflow(data_dir, "consume", "--once", "--broker", "paper",
              TRADEFLOW_RISK_COOLDOWN_SECONDS="600", TRADEFLOW_SIZING_FRACTION="0.05")
    orders = _read_all(data_dir, ORDERS)
    return {"bars": len(price_bars), "news": len(news), "signals": len(signals),
            "orders": len(orders)}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".tradeflow-demo")
    print(build_demo(target))
