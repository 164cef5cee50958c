"""Helpers for the indicator tests: run sql/indicators.sql in Flink and compare it to TA-Lib.

Data goes in and out through the filesystem connector: TableResult.collect() is far too slow
(~430 rows/s) for a data path.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import talib

from jobs.sql_loader import flat_params, load_strategy, render_sql, split_statements

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MINUTE_BARS = SHARED_DATA / "lean-us-equity-minute" / "lean_minute_trade_bars.csv"

INDICATOR_COLUMNS = [
    "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14", "atr_14",
    "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower",
]
# The previous bar's values, which the crossing rules compare against (bars_ago = 1).
PREVIOUS_COLUMNS = ["prev_close", "prev_rsi", "prev_sma_gap", "prev_macd_hist", "prev_bb_upper",
                    "prev_bb_lower"]
REL_TOL = 1e-9


def default_params() -> dict[str, Any]:
    return dict(load_strategy()["indicators"])


def talib_reference(bars: pd.DataFrame, p: dict[str, Any]) -> dict[str, np.ndarray]:
    """TA-Lib's values for one symbol's bars (high, low, close in event-time order), keyed by the
    view's column names."""
    high, low, close = (bars[c].to_numpy(float) for c in ("high", "low", "close"))
    macd, signal, hist = talib.MACD(close, p["macd_fast"], p["macd_slow"], p["macd_signal"])
    upper, middle, lower = talib.BBANDS(close, p["bb_period"], p["bb_stddev"], p["bb_stddev"], 0)
    return {
        "sma_20": talib.SMA(close, p["sma_fast"]),
        "sma_50": talib.SMA(close, p["sma_slow"]),
        "ema_12": talib.EMA(close, p["ema_fast"]),
        "ema_26": talib.EMA(close, p["ema_slow"]),
        "rsi_14": talib.RSI(close, p["rsi"]),
        "atr_14": talib.ATR(high, low, close, p["atr_period"]),
        "macd": macd, "macd_signal": signal, "macd_hist": hist,
        "bb_upper": upper, "bb_middle": middle, "bb_lower": lower,
    }


def compare_to_talib(result: pd.DataFrame, params: dict[str, Any]) -> dict[str, tuple[int, float]]:
    """Assert Flink == TA-Lib per symbol (NULL <=> NaN, else rel. diff <= 1e-9).

    Returns, per column, how many non-null values were compared and the largest relative
    difference seen.
    """
    worst = dict.fromkeys(INDICATOR_COLUMNS, 0.0)
    compared = dict.fromkeys(INDICATOR_COLUMNS, 0)
    for symbol, group in result.sort_values(["symbol", "event_time"]).groupby("symbol"):
        reference = talib_reference(group, params)
        for column in INDICATOR_COLUMNS:
            got = group[column].to_numpy(float)  # JSON null -> NaN
            want = reference[column]
            null_mismatch = np.flatnonzero(np.isnan(got) != np.isnan(want))
            assert null_mismatch.size == 0, (
                f"{symbol}.{column}: NULL/NaN pattern differs from TA-Lib at rows "
                f"{null_mismatch[:5].tolist()} (flink={got[null_mismatch[:5]]}, talib={want[null_mismatch[:5]]})"
            )
            ok = ~np.isnan(want)
            diff = np.abs(got[ok] - want[ok])
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(diff == 0.0, 0.0, diff / np.abs(want[ok]))
            if rel.size:
                i = int(np.argmax(rel))
                assert rel[i] <= REL_TOL, (
                    f"{symbol}.{column}: relative difference {rel[i]:.3e} at row {np.flatnonzero(ok)[i]} "
                    f"(flink={got[ok][i]!r}, talib={want[ok][i]!r})"
                )
                worst[column] = max(worst[column], float(rel[i]))
            compared[column] += int(ok.sum())
    return {column: (compared[column], worst[column]) for column in INDICATOR_COLUMNS}


def random_walk_prices(symbols: int = 4, bars: int = 3000, seed: int = 20240605) -> pd.DataFrame:
    """Seeded minute-bar random walks, one per symbol, on a shared UTC minute grid."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-02 14:31", tz="UTC")
    frames = []
    for k in range(symbols):
        base = 20.0 * (k + 1) ** 2
        close = base * np.exp(np.cumsum(rng.normal(0.0, 0.002, bars)))
        if k == 0 and bars > 600:
            # A flat stretch: zero Bollinger width, and RSI frozen (Wilder averages decay together).
            close[500:560] = close[499]
        if k == 1:
            # Flat from the start: TA-Lib's RSI is 0, not NaN, when gains and losses are both 0.
            close[:40] = base
        close = np.round(close, 4)
        frames.append(pd.DataFrame({
            "symbol": f"SYN{k}",
            "event_time": start + pd.to_timedelta(np.arange(bars), unit="min"),
            "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
            "volume": rng.integers(100, 10_000, bars).astype(float),
        }))
    return pd.concat(frames, ignore_index=True)


def load_minute_bars() -> pd.DataFrame:
    """The real LEAN minute bars with event_time = bar end (start + 1 min), in UTC."""
    raw = pd.read_csv(MINUTE_BARS)
    start = pd.to_datetime(raw["bar_start_et"]).dt.tz_localize("America/New_York")
    return pd.DataFrame({
        "symbol": raw["symbol"],
        "event_time": (start + pd.Timedelta(minutes=1)).dt.tz_convert("UTC"),
        "open": raw["open"].astype(float), "high": raw["high"].astype(float),
        "low": raw["low"].astype(float), "close": raw["close"].astype(float),
        "volume": raw["volume"].astype(float),
    })


_SINK_COLUMNS = ", ".join(
    ["symbol STRING", "event_time TIMESTAMP_LTZ(3)", "`close` DOUBLE"]
    + [f"{c} DOUBLE" for c in INDICATOR_COLUMNS + PREVIOUS_COLUMNS]
)


class IndicatorRunner:
    """Runs sql/functions.sql + sql/indicators.sql over a DataFrame in one TableEnvironment.

    The bars stand in for the job's `timeline` view (bars and news); no news rows here."""

    _ids = itertools.count()

    def __init__(self, streaming: bool, jar: Path, workdir: Path) -> None:
        from pyflink.table import EnvironmentSettings, TableEnvironment

        settings = EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
        self.t_env = TableEnvironment.create(settings)
        config = self.t_env.get_config()
        config.set("pipeline.jars", jar.as_uri())
        config.set("table.local-time-zone", "UTC")
        self.workdir = workdir
        for statement in split_statements(render_sql("functions.sql")):
            self.t_env.execute_sql(statement)

    def run(self, prices: pd.DataFrame, params: dict[str, Any] | None = None, parallelism: int = 1) -> pd.DataFrame:
        run_id = next(self._ids)
        src_dir = self.workdir / f"in-{run_id}"
        out_dir = self.workdir / f"out-{run_id}"
        src_dir.mkdir()
        ordered = prices.sort_values(["event_time", "symbol"], kind="stable")
        ts_ms = ordered["event_time"].map(lambda t: t.value // 1_000_000)
        with open(src_dir / "prices.csv", "w") as fh:
            for row, ms in zip(ordered.itertuples(index=False), ts_ms):
                # repr() round-trips doubles exactly, so Flink sees the same bits as TA-Lib.
                fh.write(f"{row.symbol},{ms},{row.open!r},{row.high!r},{row.low!r},{row.close!r},{row.volume!r}\n")

        config = self.t_env.get_config()
        config.set("table.exec.resource.default-parallelism", str(parallelism))
        config.set("parallelism.default", str(parallelism))
        t = self.t_env
        t.execute_sql("DROP TEMPORARY VIEW IF EXISTS indicators")
        t.execute_sql("DROP TEMPORARY VIEW IF EXISTS timeline")
        # The watermark trails by 1 s: rows of other symbols with the *same* minute would
        # otherwise count as late (ts <= watermark) and the OVER operator would drop them.
        t.execute_sql(f"""
            CREATE TEMPORARY TABLE src_{run_id} (
                symbol STRING, ts_ms BIGINT, `open` DOUBLE, high DOUBLE, low DOUBLE,
                `close` DOUBLE, volume DOUBLE,
                event_time AS TO_TIMESTAMP_LTZ(ts_ms, 3),
                WATERMARK FOR event_time AS event_time - INTERVAL '1' SECOND
            ) WITH ('connector' = 'filesystem', 'path' = '{src_dir.as_uri()}', 'format' = 'csv')""")
        t.execute_sql(f"""
            CREATE TEMPORARY VIEW timeline AS
            SELECT symbol, event_time, high, low, `close`, CAST(NULL AS DOUBLE) AS news_score,
                   CAST(NULL AS TIMESTAMP_LTZ(3)) AS published_at
            FROM src_{run_id}""")
        # The view also needs the news and gap settings; periods given here override the file's.
        sql_params = {**flat_params(load_strategy()), **(params or {})}
        for statement in split_statements(render_sql("indicators.sql", sql_params)):
            t.execute_sql(statement)
        t.execute_sql(f"""
            CREATE TEMPORARY TABLE sink_{run_id} ({_SINK_COLUMNS})
            WITH ('connector' = 'filesystem', 'path' = '{out_dir.as_uri()}', 'format' = 'json')""")
        columns = ", ".join(["symbol", "event_time", "`close`", *INDICATOR_COLUMNS, *PREVIOUS_COLUMNS])
        t.execute_sql(f"INSERT INTO sink_{run_id} SELECT {columns} FROM indicators").wait()
        return with_ranges(read_sink(out_dir), ordered)


def with_ranges(result: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """The result with each bar's high and low from the input (the view passes on only the
    close), for TA-Lib's ATR. A repeated bar counts as its first delivery, as in the view."""
    ranges = prices.drop_duplicates(["symbol", "event_time"], keep="first")
    merged = result.merge(ranges[["symbol", "event_time", "high", "low"]],
                          on=["symbol", "event_time"], how="left", validate="many_to_one")
    merged.attrs.update(result.attrs)
    return merged


def read_sink(out_dir: Path) -> pd.DataFrame:
    parts = sorted(p for p in out_dir.rglob("part-*") if not p.name.startswith("."))
    rows, symbol_parts = [], {}
    for part in parts:
        for line in part.read_text().splitlines():
            if line:
                rows.append(json.loads(line))
                symbol_parts.setdefault(rows[-1]["symbol"], set()).add(part.name)
    frame = pd.DataFrame(rows, columns=["symbol", "event_time", "close", *INDICATOR_COLUMNS,
                                        *PREVIOUS_COLUMNS])
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    frame[INDICATOR_COLUMNS + PREVIOUS_COLUMNS] = frame[INDICATOR_COLUMNS + PREVIOUS_COLUMNS].astype(float)
    frame.attrs["part_files"] = [p.name for p in parts]
    # Each sink subtask writes its own part file, so this shows which subtask saw which symbol.
    frame.attrs["symbol_part_files"] = symbol_parts
    return frame


def assert_partitioned_by_symbol(result: pd.DataFrame, subtasks: int) -> None:
    """All subtasks got work, and each symbol's rows were all handled by a single subtask."""
    assert len(result.attrs["part_files"]) == subtasks, result.attrs["part_files"]
    split = {s: parts for s, parts in result.attrs["symbol_part_files"].items() if len(parts) != 1}
    assert not split, f"symbols spread over several subtasks: {split}"


def assert_same_rows(prices: pd.DataFrame, result: pd.DataFrame) -> None:
    """Every input bar comes out exactly once, with its close and bar-end event time."""
    key = ["symbol", "event_time"]
    want = prices[key + ["close"]].sort_values(key).reset_index(drop=True)
    got = result[key + ["close"]].sort_values(key).reset_index(drop=True)
    assert len(got) == len(want), f"{len(want)} bars in, {len(got)} rows out"
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
