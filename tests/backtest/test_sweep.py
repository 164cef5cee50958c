"""A grid as one bounded job (jobs/sweep.py): what the parameter sets share is planned once, each
set emits exactly what its own run emits, and no set looks ahead (the prefix property, for
every set of the grid)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from backtest.run import bounded_job, prepare_inputs, run_job, run_jobs
from jobs.sql_loader import StrategyError, flat_params, load_strategy, render_sql
from jobs.sweep import merge

from .helpers import read_parts
from .synthetic import START, write_prefix_case

GRID = [{}, {"rsi_oversold": 40, "rsi_overbought": 60, "macd_setup": "off"},
        {"sma_fast": 10, "horizon_bars": 15}]
N, K = 240, 160
NEWS = [(START + timedelta(minutes=90), "AAA", "Company profit rose sharply, beat expectations"),
        (START + timedelta(minutes=180), "BBB", "Company swung to a loss and cut its outlook")]


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


def _key(s: dict) -> tuple:
    return s["signal_id"], s["action"], s["reason"], s["horizon_bars"]


def _same(a: list[dict], b: list[dict]) -> bool:
    """The same signals (emitted_at aside: it is the wall clock), numbers to 1e-12."""
    def numbers(s: dict) -> list[float]:
        return [s["confidence"], s["price"], s["stop_loss"], s["take_profit"],
                *[v for _, v in sorted(s["indicators"].items())]]

    return ([_key(s) for s in a] == [_key(s) for s in b]
            and all(numbers(x) == pytest.approx(numbers(y), rel=1e-12) for x, y in zip(a, b)))


@pytest.mark.flink
def test_each_set_emits_its_own_runs_signals_and_none_looks_ahead(tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "prefix"
    stamp = write_prefix_case(full, part, N, K, NEWS)
    dirs: dict[str, list[Path]] = {}

    def sweep(name: Path) -> None:
        inputs = prepare_inputs([name / "prices.csv"], [name / "news.csv"], name, name / "work")
        dirs[name.name] = run_jobs(inputs.topics, name / "work", GRID, indicators_for=None,
                                   max_parallel=1)

    alone = tmp_path / "alone"
    workers = [threading.Thread(target=sweep, args=(d,)) for d in (full, part)]
    for w in workers:
        w.start()
    alone_inputs = prepare_inputs([full / "prices.csv"], [full / "news.csv"], alone, alone / "work")
    run_job(alone_inputs.topics, alone / "run", GRID[2], indicators=False)
    for w in workers:
        w.join()

    every = [sorted(read_parts(d / "signals"), key=_key) for d in dirs["full"]]
    assert len({tuple(map(_key, s)) for s in every}) == len(GRID), "each set signals differently"
    assert _same(every[2], sorted(read_parts(alone / "run" / "signals"), key=_key))
    # a setup turned off never fires
    assert any("MACD" in s["reason"] for s in every[0])
    assert not any("MACD" in s["reason"] for s in every[1])
    for full_sigs, prefix_dir in zip(every, dirs["prefix"]):
        head = [s for s in full_sigs if s["bar_time"] <= stamp]
        assert len(head) >= 2 and len(full_sigs) > len(head)
        assert _same(sorted(read_parts(prefix_dir / "signals"), key=_key), head)


def test_a_setup_switch_is_on_or_off() -> None:
    params = {**flat_params(load_strategy()), "macd_setup": "maybe"}
    with pytest.raises(StrategyError, match="macd_setup must be one of 'on', 'off'"):
        render_sql("setups.sql", params)
