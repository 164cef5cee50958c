"""(a) Indicators on real LEAN minute bars (every symbol in the file) equal TA-Lib's."""

from __future__ import annotations

import pytest

from .indicator_harness import (
    MINUTE_BARS,
    assert_partitioned_by_symbol,
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


def test_streaming_parallelism_2_gives_identical_rows(stream_runner, minute_bars, batch_result, report):
    """Partitioned by symbol, two subtasks must produce exactly what one batch task does."""
    batch = batch_result
    streamed = stream_runner.run(minute_bars, parallelism=2)

    assert_partitioned_by_symbol(streamed, subtasks=2)
    key = ["symbol", "event_time"]
    a = batch.sort_values(key).reset_index(drop=True)
    b = streamed.sort_values(key).reset_index(drop=True)
    assert a.equals(b), "parallelism-2 streaming output differs from the batch output"
    report("real minute bars, streaming p=2", compare_to_talib(streamed, default_params()))
