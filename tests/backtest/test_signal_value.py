"""What a signal is worth: own-horizon figures, overlap-adjusted t-statistics (checked against
hand computations of Newey-West), groups by setup and news tone, calibration, exits by reason.
Synthetic bars and signals whose answer is known by construction; seeded; no Flink."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from backtest import signal_quality
from backtest.metrics import trade_metrics
from backtest.report import _own_horizon, summary_lines
from backtest.signal_quality import (SETUPS, confidence_bucket, decay, forward_returns,
                                     hac_var_of_mean, setups_of, summarise, tone_of)
from jobs.sql_loader import load_strategy
from tradeflow.contracts import TradingSignal
from tradeflow.trading.exits import Trade

from .helpers import frame, minute_bars, signal
from .synthetic import bar_times

SQL = Path(__file__).resolve().parents[2] / "sql" / "signals.sql"


def _bars(closes: np.ndarray, symbol: str = "AAA"):
    closes = list(map(float, closes))
    return frame(minute_bars(symbol, bar_times(len(closes)), closes, closes))


def _signal(symbol: str, action: str, t: datetime, *, horizon: int | None = None,
            reason: str = "hand-made", sentiment: float | None = None, confidence: float = 0.5,
            sid: str | None = None) -> TradingSignal:
    return signal(symbol, action, t, 100.0, confidence, sid).model_copy(
        update={"horizon_bars": horizon, "reason": reason, "sentiment": sentiment})


def _random_walk(n: int, seed: int, drift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(drift, 0.001, n)))


# --- the HAC variance -------------------------------------------------------------------------

def test_newey_west_by_hand() -> None:
    # x = 1 2 4 3: u = -1.5 -0.5 1.5 0.5, sum u^2 = 5; lag-1 products sum to 0.75, lag-2 to -2.5
    x, starts = [1.0, 2.0, 4.0, 3.0], np.arange(4)
    assert hac_var_of_mean(x, starts, starts + 1) == pytest.approx(5 / 16)  # no overlap: iid
    # h = 2 is lag 1, Bartlett weight 1/2
    assert hac_var_of_mean(x, starts, starts + 2) == pytest.approx((5 + 2 * 0.5 * 0.75) / 16)
    # h = 3 is lag 2, weights 2/3 and 1/3
    assert hac_var_of_mean(x, starts, starts + 3) == pytest.approx(
        (5 + 2 * (2 / 3) * 0.75 + 2 * (1 / 3) * -2.5) / 16)


def test_windows_of_different_lengths_weigh_their_overlap() -> None:
    # [0, 4) and [2, 4) share 2 positions: w = 2 / sqrt(4 * 2); u = -1, 1
    assert hac_var_of_mean([1.0, 3.0], [0, 2], [4, 4]) == pytest.approx(
        (1 + 1 + 2 * (2 / math.sqrt(8)) * -1) / 4)
    # windows far apart are independent, whatever their order in the input
    assert hac_var_of_mean([3.0, 1.0, 2.0], [50, 0, 20], [55, 5, 25]) == pytest.approx(2 / 9)


@pytest.mark.parametrize("chunk", [1, 7, 1_000_000])
def test_overlap_sum_is_the_pair_by_pair_sum_in_any_chunking(chunk: int, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    start = rng.integers(0, 300, 120)
    end = start + rng.integers(1, 40, 120)
    x = rng.normal(size=120)
    overlap = np.clip(np.minimum.outer(end, end) - np.maximum.outer(start, start), 0, None)
    w = overlap / np.sqrt(np.outer(end - start, end - start))
    u = x - x.mean()
    monkeypatch.setattr(signal_quality, "PAIRS_PER_CHUNK", chunk)
    assert hac_var_of_mean(x, start, end) == pytest.approx(u @ w @ u / 120 ** 2, rel=1e-12)
    assert np.linalg.eigvalsh(w).min() > -1e-12  # positive semi-definite: never a negative variance


# --- known answers on synthetic series ---------------------------------------------------------

def test_signals_that_always_match_their_own_horizon_hit_and_rank_perfectly() -> None:
    h = 3
    level = np.array([100.0] * h + [110.0] * h)
    closes = np.tile(level, 20)  # a square wave of half-period h: close[i+h] is the other level
    bars, times = _bars(closes), bar_times(len(closes))
    sigs = [_signal("AAA", "BUY" if c == 100 else "SELL", t, horizon=h)
            for t, c in zip(times, closes)]
    q = decay(bars, sigs)["own_horizon"]
    assert q["horizon_bars"] == [h]
    assert q["all"]["signals"] == len(closes) - h
    assert q["all"]["hit_rate"] == 1.0
    assert q["all"]["ic"] == pytest.approx(1.0)
    assert q["all"]["mean_signed_return"] > 0


def test_random_directions_have_small_t_statistics() -> None:
    closes = _random_walk(3000, seed=5)
    times = bar_times(len(closes))
    rng = np.random.default_rng(8)
    sigs = [_signal("AAA", rng.choice(["BUY", "SELL"]), t, horizon=20) for t in times[::2]]
    a = decay(_bars(closes), sigs)["own_horizon"]["all"]
    assert a["signals"] > 1000
    for key in ("mean_signed_return_t", "ic_t", "hit_rate_t"):  # ~N(0, 1) when worth nothing
        assert abs(a[key]) < 3, key
    lo, hi = a["mean_signed_return_ci"]  # mean +- 1.96 SE, SE = mean / t
    assert (hi - lo) / 2 == pytest.approx(1.96 * abs(a["mean_signed_return"] / a["mean_signed_return_t"]),
                                          rel=1e-4)


def test_duplicated_signals_add_no_information() -> None:
    closes = _random_walk(1500, seed=2, drift=0.0003)
    times = bar_times(len(closes))
    once = [_signal("AAA", "BUY", t, horizon=10) for t in times[::5]]
    four = [s.model_copy(update={"signal_id": f"{s.signal_id}-{k}"}) for s in once for k in range(4)]
    a = decay(_bars(closes), once)["own_horizon"]["all"]
    b = decay(_bars(closes), four)["own_horizon"]["all"]
    assert b["signals"] == 4 * a["signals"]
    # the naive t doubles (sqrt 4); the overlap-adjusted one does not move
    assert b["mean_signed_return_t_iid"] == pytest.approx(
        a["mean_signed_return_t_iid"] * 2, rel=0.01)
    assert b["mean_signed_return_t"] == pytest.approx(a["mean_signed_return_t"])
    assert abs(b["mean_signed_return_t"]) < abs(b["mean_signed_return_t_iid"])


def test_overlapping_windows_shrink_the_t_statistic() -> None:
    # a BUY on every bar of a drifting walk, 30-bar windows: neighbours share 29 of 30 moves
    closes = _random_walk(2000, seed=4, drift=0.0002)
    sigs = [_signal("AAA", "BUY", t, horizon=30) for t in bar_times(len(closes))]
    a = decay(_bars(closes), sigs)["own_horizon"]["all"]
    assert abs(a["mean_signed_return_t"]) < abs(a["mean_signed_return_t_iid"]) / 3


def test_effective_sample_size_of_the_ic_counts_duplicates_once() -> None:
    rng = np.random.default_rng(3)
    d, r = rng.choice([-1.0, 1.0], 400), rng.normal(0, 0.01, 400)
    starts = np.arange(400) * 10  # disjoint windows
    one = summarise(d, r, starts, starts + 5)
    two = summarise(np.repeat(d, 2), np.repeat(r, 2), np.repeat(starts, 2), np.repeat(starts, 2) + 5)
    assert two["ic"] == pytest.approx(one["ic"])
    assert two["n_eff"] == pytest.approx(one["n_eff"])
    assert two["ic_t"] == pytest.approx(one["ic_t"])
    assert one["ic_t"] == pytest.approx(one["ic"] * math.sqrt((one["n_eff"] - 2) / (1 - one["ic"] ** 2)))
    lo, hi = one["ic_ci"]
    assert lo < one["ic"] < hi


def test_a_window_across_a_price_gap_is_left_out() -> None:
    closes = np.concatenate([np.full(20, 700.0), np.full(20, 100.0)])  # a 7:1 split at bar 20
    times = bar_times(40)
    sigs = [_signal("AAA", "SELL", times[k], horizon=5) for k in (10, 16, 19, 20, 30)]
    q = decay(_bars(closes), sigs, horizons=(1,), gap_max_move=0.25)
    own = q["own_horizon"]["all"]
    assert own["signals"] == 3 and own["left_out_for_gaps"] == 2  # those at bars 16 and 19
    assert own["mean_signed_return"] == 0.0
    assert q["horizons"][0]["left_out_for_gaps"] == 1  # only bar 19's next bar is the split
    assert "2 left out: a price gap" in summary_lines(
        {"signal_quality": q, "strategy": {}})[0]


def test_a_signal_without_horizon_uses_the_default() -> None:
    closes = np.linspace(100, 120, 50)
    times = bar_times(50)
    sigs = [_signal("AAA", "BUY", times[0], horizon=None), _signal("AAA", "BUY", times[1], horizon=4)]
    fwd = forward_returns(_bars(closes), sigs, (1,), default_horizon=7)
    assert list(fwd["h_own"]) == [7, 4]
    assert fwd["r_own"].iloc[0] == pytest.approx(closes[7] / closes[0] - 1)
    # strategy.toml's horizon_bars when none is given
    toml = load_strategy()["signals"]["horizon_bars"]
    assert forward_returns(_bars(closes), sigs[:1], (1,))["h_own"].iloc[0] == toml


# --- groups -----------------------------------------------------------------------------------

def test_setup_phrases_are_those_the_sql_writes() -> None:
    sql = SQL.read_text()
    for phrases in SETUPS.values():
        for phrase in phrases:
            assert phrase in sql, phrase


def test_setups_and_tone_of_a_signal() -> None:
    assert setups_of("RSI left oversold (28.1 -> 31.2); MACD histogram turned positive; "
                     "no recent news") == ["RSI", "MACD"]
    assert setups_of("SMA20 crossed below SMA50; close back below the upper Bollinger band; "
                     "negative news (sentiment -0.4, 2 stories)") == ["SMA cross", "Bollinger"]
    assert setups_of("hand-made") == ["other"]
    assert [tone_of(s) for s in (0.3, -0.1, 0.0, None)] == [
        "positive", "negative", "none/neutral", "none/neutral"]


def test_groups_by_setup_and_news_tone() -> None:
    # price rises every bar: a BUY always hits, a SELL never
    closes = np.linspace(100, 130, 40)
    times = bar_times(40)
    rsi_up, rsi_down = "RSI left oversold (29 -> 31)", "RSI left overbought (71 -> 69)"
    macd_up = "MACD histogram turned positive"
    sigs = [_signal("AAA", "BUY", times[0], horizon=5, reason=f"{rsi_up}; {macd_up}", sentiment=0.5),
            _signal("AAA", "SELL", times[1], horizon=5, reason=rsi_down, sentiment=-0.3),
            _signal("AAA", "BUY", times[2], horizon=5, reason=macd_up),
            _signal("AAA", "SELL", times[3], horizon=5, reason="hand-made", sentiment=0.0),
            _signal("AAA", "BUY", times[38], horizon=5, reason=rsi_up)]  # no 5 bars after: out
    q = decay(_bars(closes), sigs)["own_horizon"]
    by_setup = {g["group"]: g for g in q["by_setup"]}
    assert list(by_setup) == ["RSI", "MACD", "other"]  # in SETUPS order, the empty ones left out
    assert by_setup["RSI"]["signals"] == 2 and by_setup["RSI"]["hit_rate"] == 0.5
    assert by_setup["RSI"]["ic"] == pytest.approx(1.0)  # the BUY rose more than the SELL
    assert by_setup["MACD"]["signals"] == 2 and by_setup["MACD"]["hit_rate"] == 1.0
    assert by_setup["MACD"]["ic"] is None  # BUYs only: direction constant
    assert by_setup["other"]["signals"] == 1 and by_setup["other"]["hit_rate"] == 0.0
    by_tone = {g["group"]: g["signals"] for g in q["by_tone"]}
    assert by_tone == {"positive": 1, "negative": 1, "none/neutral": 2}
    assert q["all"]["signals"] == 4


def test_calibration_buckets() -> None:
    closes = np.linspace(100, 130, 40)
    times = bar_times(40)
    stated = [(0.5, "BUY"), (0.5 + 0.1, "BUY"), (0.65, "SELL"), (0.8, "BUY"), (1.0, "BUY"),
              (0.95, "SELL")]
    sigs = [_signal("AAA", a, times[k], horizon=3, confidence=c) for k, (c, a) in enumerate(stated)]
    cal = decay(_bars(closes), sigs)["own_horizon"]["calibration"]
    assert [c["bucket"] for c in cal] == ["[0.5, 0.6)", "[0.6, 0.7)", "[0.8, 0.9)", "[0.9, 1.0]"]
    assert [c["signals"] for c in cal] == [1, 2, 1, 2]
    assert [c["hit_rate"] for c in cal] == [1.0, 0.5, 1.0, 0.5]
    assert cal[1]["mean_confidence"] == pytest.approx(0.625)
    assert [confidence_bucket(c) for c in (0.0, 0.3, 0.7, 0.9999, 1.0)] == [0.0, 0.3, 0.7, 0.9, 0.9]


def test_the_block_is_json_and_shows_in_the_report_and_the_summary() -> None:
    closes = _random_walk(400, seed=9)
    times = bar_times(400)
    rng = np.random.default_rng(1)
    reasons = ["RSI left oversold (29 -> 31)", "SMA20 crossed above SMA50",
               "MACD histogram turned positive", "close back above the lower Bollinger band"]
    sigs = [_signal("AAA", rng.choice(["BUY", "SELL"]), t, horizon=30, reason=reasons[k % 4],
                    sentiment=[None, 0.4, -0.4][k % 3], confidence=0.5 + 0.1 * (k % 4))
            for k, t in enumerate(times[::7])]
    quality = decay(_bars(closes), sigs)
    json.dumps(quality, allow_nan=False)  # report.json refuses NaN
    report = {"signal_quality": quality,
              "strategy": trade_metrics([_trade(5, "take_profit"), _trade(-3, "stop_loss")])}
    lines = summary_lines(report)
    assert lines[0].startswith("signal value at own horizon (30 bars")
    assert [line.split()[0] for line in lines[2:10]] == ["all", "setup:", "setup:", "setup:",
                                                         "setup:", "news:", "news:", "news:"]
    assert lines[-2].startswith("calibration") and "[0.8, 0.9)" in lines[-2]
    assert lines[-1] == "exits (trades, win rate, mean return): stop loss 1, 0.00%, -0.30%; " \
                        "take profit 1, 100.00%, 0.50%"
    page = _own_horizon(report)
    assert "Signal value at its own horizon (30 bars)" in page and "setup: Bollinger" in page
    assert "Calibration" in page and "[0.5, 0.6)" in page


# --- exits by reason --------------------------------------------------------------------------

T0 = bar_times(1)[0]


def _trade(pnl: float, reason: str | None) -> Trade:
    """A long of 10 at 100, no fees: `pnl` net, return pnl / 1000."""
    return Trade("s", "tf-s", "AAA", "long", 10, 100.0, T0, T0, None, None, 3, bars_held=2,
                 exit_price=100 + pnl / 10, exit_time=T0, exit_reason=reason)


def test_exits_by_reason_with_hit_rate_and_mean_return() -> None:
    by = trade_metrics([_trade(20, "take_profit"), _trade(-10, "stop_loss"),
                        _trade(-30, "stop_loss"), _trade(10, "horizon"), _trade(-10, "horizon"),
                        _trade(4, "signal"), _trade(50, None)])["by_exit_reason"]
    assert list(by) == ["stop_loss", "take_profit", "horizon", "signal"]  # the open one: apart
    assert {k: v["trades"] for k, v in by.items()} == {
        "stop_loss": 2, "take_profit": 1, "horizon": 2, "signal": 1}
    assert {k: v["win_rate"] for k, v in by.items()} == {
        "stop_loss": 0.0, "take_profit": 1.0, "horizon": 0.5, "signal": 1.0}
    assert by["stop_loss"]["average_return"] == pytest.approx(-0.02)
    assert by["horizon"]["average_return"] == pytest.approx(0.0)
    assert by["signal"]["average_return"] == pytest.approx(0.004)
