"""(b) Synthetic random walks in streaming mode: the OVER-window UDAFs work unbounded and
give TA-Lib's values, identically at parallelism 1 and 2."""

from __future__ import annotations

import numpy as np
import pytest

from .indicator_harness import (
    INDICATOR_COLUMNS,
    assert_same_rows,
    compare_to_talib,
    default_params,
    random_walk_prices,
)

pytestmark = pytest.mark.flink


@pytest.fixture(scope="module")
def walk():
    # 6 symbols: enough that hashing puts some on each of 2 subtasks (checked below).
    return random_walk_prices(symbols=6, bars=3000)


@pytest.fixture(scope="module")
def streamed_p1(stream_runner, walk):
    return stream_runner.run(walk, parallelism=1)


def test_streaming_matches_talib(walk, streamed_p1, report):
    assert_same_rows(walk, streamed_p1)
    worst = compare_to_talib(streamed_p1, default_params())
    report(f"random walk, streaming p=1, {len(streamed_p1)} rows", worst)


def test_streaming_parallelism_2_is_identical(streamed_at_parallelism_2, walk, streamed_p1):
    streamed_at_parallelism_2(walk, streamed_p1, "the output at parallelism 1")


def test_warm_up_rows_are_null_and_flat_stretches_match(streamed_p1):
    """Warm-up lengths are TA-Lib's lookbacks (ATR: the first true range needs a previous close,
    so its first value comes with the period's true ranges, at index period, like RSI's); flat
    prices give zero-width bands and RSI 0."""
    by_symbol = {s: g.sort_values("event_time").reset_index(drop=True) for s, g in streamed_p1.groupby("symbol")}
    syn0, syn1 = by_symbol["SYN0"], by_symbol["SYN1"]
    first_value = {c: int(syn0[c].notna().idxmax()) for c in INDICATOR_COLUMNS}
    assert first_value == {"sma_20": 19, "sma_50": 49, "ema_12": 11, "ema_26": 25, "rsi_14": 14,
                           "atr_14": 14,
                           "macd": 33, "macd_signal": 33, "macd_hist": 33,
                           "bb_upper": 19, "bb_middle": 19, "bb_lower": 19}
    flat = syn0.iloc[519:560]  # closes 500..559 are identical: every 20-bar window here is flat
    assert np.array_equal(flat["bb_upper"], flat["bb_lower"])
    # Wilder's averages decay together, so RSI freezes (up to rounding in the last bits).
    assert np.allclose(flat["rsi_14"], flat["rsi_14"].iloc[0], rtol=1e-12, atol=0.0)
    assert (syn1["rsi_14"].iloc[14:40] == 0.0).all()  # no movement at all since the start


def test_previous_bar_values_are_the_bar_befores(streamed_p1):
    """bars_ago = 1 (and PREV_CLOSE) give exactly what LAG over the bars would: the value the
    same function had one bar earlier, NULL on the first bar and while that value warmed up."""
    for symbol, g in streamed_p1.groupby("symbol"):
        g = g.sort_values("event_time").reset_index(drop=True)
        expected = {
            "prev_close": g["close"].shift(1),
            "prev_rsi": g["rsi_14"].shift(1),
            "prev_sma_gap": (g["sma_20"] - g["sma_50"]).shift(1),
            "prev_macd_hist": g["macd_hist"].shift(1),
            "prev_bb_upper": g["bb_upper"].shift(1),
            "prev_bb_lower": g["bb_lower"].shift(1),
        }
        for column, want in expected.items():
            got = g[column]
            assert got.isna().equals(want.isna()), f"{symbol} {column}: NULLs differ"
            assert np.array_equal(got.dropna().to_numpy(), want.dropna().to_numpy()), \
                f"{symbol} {column}: values differ from the previous bar's"
