"""Signal quality: forward returns, hit rate and the Spearman IC against hand computations."""

from __future__ import annotations

import pytest

from backtest.signal_quality import decay, rank, spearman

from .helpers import daily_bars, daily_end, frame, signal


def test_rank_averages_ties() -> None:
    assert list(rank([1.0, -1.0, 1.0, -1.0, 1.0])) == [4, 1.5, 4, 1.5, 4]


def test_spearman_by_hand() -> None:
    # ranks x: 4 1.5 4 1.5 4; ranks y: 4 2 1 3 5 -> 2.5 / sqrt(7.5 * 10)
    rho = spearman([1, -1, 1, -1, 1], [0.02, -0.01, -0.03, 0.01, 0.05])
    assert rho == pytest.approx(2.5 / (7.5 * 10) ** 0.5)
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # constant direction: undefined


def test_hit_rate_and_decay_by_hand() -> None:
    closes = [100.0, 101.0, 99.0, 102.0, 104.0, 103.0]
    bars = frame(daily_bars("AAA", closes, closes))
    sigs = [signal("AAA", "BUY", daily_end(0), 100.0), signal("AAA", "SELL", daily_end(2), 99.0)]
    q = {d["horizon_bars"]: d for d in decay(bars, sigs, (1, 3, 5))["horizons"]}
    # h=1: BUY +1% (hit), SELL then +3.03% (miss)
    assert q[1]["signals"] == 2 and q[1]["hit_rate"] == 0.5
    assert q[1]["mean_signed_return"] == pytest.approx((0.01 - (102 / 99 - 1)) / 2)
    assert q[1]["ic"] == pytest.approx(spearman([1, -1], [0.01, 102 / 99 - 1]))
    # h=3: BUY 102/100 (hit), SELL 103/99 (miss)
    assert q[3]["hit_rate"] == 0.5
    # h=5: only the BUY has 5 bars after it
    assert q[5]["signals"] == 1 and q[5]["hit_rate"] == 1.0 and q[5]["ic"] is None
    assert q[5]["mean_signed_return"] == pytest.approx(0.03)
