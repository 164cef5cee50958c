"""Market and news simulator: determinism, sane bars, news tied to moves, pacing."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from producers.market_sim import MarketSimulator, SimConfig
from producers.pacing import Pacer
from tests.conftest import FakeClock

START = datetime(2024, 3, 4, 14, 30, 17, tzinfo=timezone.utc)


def run(seed: int, n: int = 300, **cfg):
    sim = MarketSimulator(["AAPL", "MSFT", "SPY"], seed=seed, start=START,
                          config=SimConfig(**cfg) if cfg else None)
    return [sim.step() for _ in range(n)]


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = run(11), run(11), run(12)
    assert [x[1] for x in a] == [x[1] for x in b]
    assert [x[2] for x in a] == [x[2] for x in b]
    assert [x[1] for x in a] != [x[1] for x in c]


def test_bars_are_consistent_minute_bars_ending_on_the_minute():
    steps = run(3)
    times = [t for t, _, _ in steps]
    assert times[0] == datetime(2024, 3, 4, 14, 31, tzinfo=timezone.utc)
    assert all(b - a == timedelta(minutes=1) for a, b in zip(times, times[1:]))
    prev_close = {}
    for t, bars, _ in steps:
        assert [b.symbol for b in bars] == ["AAPL", "MSFT", "SPY"]
        for b in bars:
            assert b.event_time == t
            assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
            assert b.volume > 0
            if b.symbol in prev_close:  # a continuous path: each bar opens at the last close
                assert b.open == prev_close[b.symbol]
            prev_close[b.symbol] = b.close


def test_returns_have_the_volatility_of_the_regimes():
    steps = run(5, n=2000)
    closes = [bars[0].close for _, bars, _ in steps]
    rets = [math.log(b / a) for a, b in zip(closes, closes[1:])]
    sd = (sum(r * r for r in rets) / len(rets)) ** 0.5
    per_minute = [v / math.sqrt(252 * 390) for v in (0.15, 0.70)]
    assert per_minute[0] * 0.5 < sd < per_minute[1] * 1.5


def test_news_is_published_inside_its_bar_and_moves_the_price_its_way():
    steps = run(2, n=3000, news_shock_prob=0.02, neutral_news_prob=0.0, shock_size=(0.03, 0.03))
    moves = {"up": [], "down": []}
    for i, (t, _, news) in enumerate(steps):
        for item in news:
            assert t - timedelta(minutes=1) < item.published_at < t
            sym = item.symbols[0]
            before = next(b.close for b in steps[i][1] if b.symbol == sym)
            after = next(b.close for b in steps[min(i + 15, len(steps) - 1)][1] if b.symbol == sym)
            tone = "up" if any(w in item.headline for w in ("beats", "raises", "upgrades", "rose", "wins")) else "down"
            moves[tone].append(math.log(after / before))
    assert len(moves["up"]) > 20 and len(moves["down"]) > 20
    assert sum(moves["up"]) / len(moves["up"]) > 0.01
    assert sum(moves["down"]) / len(moves["down"]) < -0.01


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="symbol"):
        MarketSimulator([], start=START)
    with pytest.raises(ValueError, match="time zone"):
        MarketSimulator(["AAPL"], start=datetime(2024, 1, 1))


def test_pacer_follows_the_speed_factor():
    clock = FakeClock()
    pacer = Pacer(speed=600, monotonic=clock.monotonic, sleep=clock.sleep)  # 10 min per second
    for k in range(4):
        pacer.wait(START + timedelta(minutes=k))
    assert clock.now - 1000 == pytest.approx(0.3)  # three minutes of event time at 600x
    beats = []
    pacer.wait(START + timedelta(minutes=23), heartbeat=lambda: beats.append(clock.now),
               every=0.5)  # two seconds more: a heartbeat every half second meanwhile
    assert clock.now - 1000 == pytest.approx(2.3) and len(beats) == 3
    fast = Pacer(speed=0, monotonic=clock.monotonic, sleep=clock.sleep)
    fast.wait(START)
    fast.wait(START + timedelta(days=1))
    assert clock.now - 1000 == pytest.approx(2.3)  # a day of event time did not sleep


def test_bars_follow_the_regular_session_calendar():
    # Wednesday 2024-07-03 closes early (13:00 New York); Thursday the 4th is a holiday.
    sim = MarketSimulator(["AAPL"], seed=1, start=datetime(2024, 7, 3, 16, 58, tzinfo=timezone.utc))
    times = [sim.step()[0] for _ in range(5)]
    assert times == [datetime(2024, 7, 3, 16, 59, tzinfo=timezone.utc),
                     datetime(2024, 7, 3, 17, 0, tzinfo=timezone.utc),
                     datetime(2024, 7, 5, 13, 31, tzinfo=timezone.utc),
                     datetime(2024, 7, 5, 13, 32, tzinfo=timezone.utc),
                     datetime(2024, 7, 5, 13, 33, tzinfo=timezone.utc)]
    # Started on a Saturday, it replays Friday's session from its open.
    sat = MarketSimulator(["AAPL"], seed=1, start=datetime(2024, 3, 9, 12, tzinfo=timezone.utc))
    assert sat.step()[0] == datetime(2024, 3, 8, 14, 31, tzinfo=timezone.utc)
    around_the_clock = MarketSimulator(["AAPL"], seed=1, start=datetime(2024, 3, 9, 12, tzinfo=timezone.utc),
                                       config=SimConfig(session_only=False))
    assert around_the_clock.step()[0] == datetime(2024, 3, 9, 12, 1, tzinfo=timezone.utc)
