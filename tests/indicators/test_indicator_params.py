"""(c) Periods are configuration: other values from a params dict give TA-Lib's values for
those periods. Also the SQL loader and the jar build step."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import talib

from .indicator_harness import compare_to_talib, default_params, random_walk_prices
from jobs.sql_loader import SqlTemplateError, flat_params, load_strategy, render_sql
from jobs.udf import build as udf_build

OTHER_PERIODS = {
    "sma_fast": 7, "sma_slow": 30, "ema_fast": 5, "ema_slow": 40, "rsi": 9,
    "macd_fast": 8, "macd_slow": 17, "macd_signal": 5, "bb_period": 10, "bb_stddev": 1.5,
    "atr_period": 5,
}


@pytest.mark.flink
@pytest.mark.parametrize("params", [
    OTHER_PERIODS,
    # TA-Lib swaps MACD periods given the wrong way round; so does the UDAF.
    {**OTHER_PERIODS, "macd_fast": 26, "macd_slow": 12, "bb_stddev": 1},
    # ATR of period 1 is TA-Lib's true range itself (it skips the smoothing).
    {**OTHER_PERIODS, "atr_period": 1},
], ids=["other-periods", "swapped-macd-int-stddev", "atr-period-1"])
def test_other_periods_match_talib(batch_runner, params, report):
    prices = random_walk_prices(symbols=3, bars=1500, seed=7)
    result = batch_runner.run(prices, params)
    assert len(result) == len(prices)
    report(f"random walk, batch, params {params}", compare_to_talib(result, params))


def test_strategy_toml_holds_the_default_periods():
    assert load_strategy()["indicators"] == {
        "sma_fast": 20, "sma_slow": 50, "ema_fast": 12, "ema_slow": 26, "rsi": 14,
        "macd_fast": 12, "macd_slow": 26, "macd_signal": 9, "bb_period": 20, "bb_stddev": 2.0,
        "atr_period": 14,
    }
    assert default_params() == load_strategy()["indicators"]


def test_render_fills_placeholders_but_keeps_column_names():
    sql = render_sql("indicators.sql", {**flat_params(load_strategy()), **OTHER_PERIODS})
    assert "${" not in sql
    assert "SMA(`close`, event_time, 7) " in sql and "AS sma_20," in sql
    assert "CAST(1.5 AS DOUBLE)" in sql
    assert "ATR(high, low, `close`, event_time, 5) " in sql and "AS atr_14," in sql


def test_missing_placeholder_is_a_clear_error():
    partial = {k: v for k, v in {**flat_params(load_strategy()), **OTHER_PERIODS}.items() if k != "rsi"}
    with pytest.raises(SqlTemplateError, match=r"indicators\.sql needs \$\{rsi\}"):
        render_sql("indicators.sql", partial)


def test_talib_macd_alignment_facts():
    """What the MACD UDAF reproduces: TA-Lib's fast EMA inside MACD is not talib.EMA(12)."""
    close = random_walk_prices(symbols=1, bars=300, seed=3)["close"].to_numpy(float)
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    # The line itself is NaN until the signal exists (26-1 + 9-1 = 33), not from index 25.
    assert np.isnan(macd[:33]).all() and not np.isnan(macd[33])
    standalone = talib.EMA(close, 12) - talib.EMA(close, 26)
    assert abs(macd[33] - standalone[33]) > 1e-9 * abs(macd[33])
    # Fast EMA seeded with the SMA of closes 14..25 (so it starts on the slow EMA's first bar).
    fast = np.mean(close[14:26])
    slow = talib.EMA(close, 26)[25]
    k = 2 / 13
    line = [fast - slow]
    for i in range(26, 34):
        fast = (close[i] - fast) * k + fast
        line.append(fast - talib.EMA(close, 26)[i])
    assert line[-1] == pytest.approx(macd[33], rel=1e-12)
    assert np.mean(line) == pytest.approx(signal[33], rel=1e-12)


def test_jar_is_rebuilt_only_when_a_source_is_newer(tmp_path: Path):
    jar = udf_build.ensure_udf_jar()
    built_at = jar.stat().st_mtime_ns
    assert udf_build.ensure_udf_jar().stat().st_mtime_ns == built_at  # fresh: left alone

    fake_jar = tmp_path / "x.jar"
    source = tmp_path / "A.java"
    source.write_text("class A {}")
    fake_jar.write_bytes(b"")
    os.utime(source, (1_000, 1_000))
    assert not udf_build._is_stale(fake_jar, [source])
    os.utime(source, None)
    os.utime(fake_jar, (1_000, 1_000))
    assert udf_build._is_stale(fake_jar, [source])
    assert udf_build._is_stale(tmp_path / "missing.jar", [source])
