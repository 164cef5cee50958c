"""(a) Indicators on real LEAN minute bars (every symbol in the file) equal TA-Lib's."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from .indicator_harness import (
    MINUTE_BARS,
    assert_same_rows,
    compare_to_talib,
    default_params,
    load_minute_bars,
)

pytestmark = [
    pytest.mark.flink,
    pytest.mark.shared_data,
    pytest.mark.skipif(
        not MINUTE_BARS.exists(),
        reason=f"real minute bars not found at {MINUTE_BARS} (../shared/data is absent on this machine)",
    ),
]


@pytest.fixture(scope="module")
def minute_bars():
    return load_minute_bars()


@pytest.fixture(scope="module")
def batch_result(batch_runner, minute_bars):
    return batch_runner.run(minute_bars)


def test_batch_matches_talib_on_every_symbol(minute_bars, batch_result, report):
    result = batch_result
    assert_same_rows(minute_bars, result)
    assert set(result["symbol"]) == set(minute_bars["symbol"])
    worst = compare_to_talib(result, default_params())
    report(f"real minute bars, batch, {len(result)} rows, {result['symbol'].nunique()} symbols", worst)


def test_streaming_parallelism_2_gives_identical_rows(streamed_at_parallelism_2, minute_bars, batch_result,
                                                     report):
    """Partitioned by symbol, two subtasks must produce exactly what one batch task does."""
    streamed = streamed_at_parallelism_2(minute_bars, batch_result, "the batch output")
    report("real minute bars, streaming p=2", compare_to_talib(streamed, default_params()))


def test_talib_atr_warm_up_facts(minute_bars):
    """What the ATR function reproduces, checked on every real symbol: no true range on a
    symbol's first bar, the first ATR at index `period` (TA-Lib's unstable period for ATR is 0
    unless set), equal to the plain mean of true ranges 1..period, Wilder smoothing after that;
    period 1 is the true range itself."""
    assert talib.get_unstable_period("ATR") == 0
    for symbol, bars in minute_bars.groupby("symbol"):
        high, low, close = (bars[c].to_numpy(float) for c in ("high", "low", "close"))
        tr = talib.TRANGE(high, low, close)
        assert np.isnan(tr[0]) and not np.isnan(tr[1:]).any()
        prev = close[:-1]
        assert np.array_equal(tr[1:], np.maximum.reduce(
            [high[1:] - low[1:], np.abs(prev - high[1:]), np.abs(prev - low[1:])]))
        for period in (14, 30):
            atr = talib.ATR(high, low, close, period)
            assert np.isnan(atr[:period]).all() and not np.isnan(atr[period:]).any(), symbol
            assert atr[period] == pytest.approx(tr[1:period + 1].mean(), rel=1e-12)
            wilder = (atr[period:-1] * (period - 1) + tr[period + 1:]) / period
            assert np.allclose(atr[period + 1:], wilder, rtol=1e-12, atol=0)
        assert np.array_equal(talib.ATR(high, low, close, 1), tr, equal_nan=True)
