"""A grid as one bounded job (jobs/sweep.py): what the parameter sets share is planned once. That
each set emits exactly what its own run emits, and looks ahead for none, is proven on the real
job in test_prefix_and_report.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest.workers import bounded_job
from jobs.sql_loader import StrategyError, flat_params, load_strategy, render_sql
from jobs.sweep import merge

from .synthetic import GRID


def test_sets_share_what_reads_the_same(tmp_path: Path) -> None:
    jobs = [bounded_job(tmp_path / "topics", tmp_path / f"run-{i}", params, i == 0, 1)
            for i, params in enumerate(GRID)]
    sweep = merge(jobs)
    names = sweep.names()
    assert len(names) == len(set(names))
    # One source each and one news pipeline for all; set 2 changes an indicator period, so it
    # has its own indicators (and what reads them); set 1 only its rules and sink.
    for shared in ("stock_prices", "market_news", "checked_bars", "news_scores", "timeline"):
        assert names.count(shared) == 1 and f"{shared}__p1" not in names
    assert "indicators__p1" not in names and "indicators__p2" in names
    assert {"signals", "signals__p1", "signals__p2"} <= set(names)
    assert {"trading_signals", "trading_signals__p1", "trading_signals__p2"} <= set(names)
    assert sweep.inserts[1] == "INSERT INTO indicator_rows\nSELECT symbol, event_time, `close`, " \
        "sma_20, sma_50, ema_12, ema_26, rsi_14, atr_14,\n       macd, macd_signal, macd_hist, " \
        "bb_upper, bb_middle, bb_lower\nFROM indicators"
    assert "INSERT INTO trading_signals__p2 SELECT * FROM signals__p2" in sweep.inserts


def test_a_setup_switch_is_on_or_off() -> None:
    params = {**flat_params(load_strategy()), "macd_setup": "maybe"}
    with pytest.raises(StrategyError, match="macd_setup must be one of 'on', 'off'"):
        render_sql("setups.sql", params)
