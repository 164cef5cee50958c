"""No look-ahead, proven on the real job, for every parameter set of a grid: the bounded run over
the first k bars emits exactly the signals the run over all bars emits up to bar k (the prefix
property the walk-forward relies on). The grid runs as one job (jobs/sweep.py), and each of its
sets emits exactly what its own run emits: that run is the whole `evaluate` pipeline with the
set's parameters, so its report is checked here too. Three Flink runs in all, side by side."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from backtest.evaluate import Options, evaluate
from backtest.execution import Costs, ExecConfig
from backtest.run import prepare_inputs
from backtest.workers import run_jobs

from .helpers import read_parts
from .synthetic import GRID, START, write_prefix_case

pytestmark = pytest.mark.flink
N, K = 260, 170
NEWS = [(START + timedelta(minutes=100), "AAA", "Company profit rose sharply, beat expectations"),
        (START + timedelta(minutes=150), "BBB", "Company swung to a loss and cut its outlook"),
        (START + timedelta(minutes=200), "AAA", "Analyst downgrades the stock to sell")]


def _key(s: dict) -> tuple:
    return (s["signal_id"], s["symbol"], s["action"], s["strength"], s["bar_time"], s["reason"],
            s["horizon_bars"])


def _numbers(s: dict) -> list[float]:
    return [s["confidence"], s["price"], s["sentiment"] or 0.0, s["stop_loss"], s["take_profit"],
            *[v for _, v in sorted(s["indicators"].items())]]


def _same(a: list[dict], b: list[dict]) -> None:
    """The same signals (emitted_at aside: it is the wall clock), numbers to 1e-12."""
    a, b = sorted(a, key=_key), sorted(b, key=_key)
    assert [_key(s) for s in a] == [_key(s) for s in b]
    for x, y in zip(a, b):
        assert _numbers(x) == pytest.approx(_numbers(y), rel=1e-12)


def test_prefix_property_for_every_set_and_report(tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "prefix"
    stamp = write_prefix_case(full, part, N, K, NEWS)
    sweeps: dict[str, list[Path]] = {}

    def sweep(case: Path) -> None:
        inputs = prepare_inputs([case / "prices.csv"], [case / "news.csv"], case, case / "work")
        sweeps[case.name] = run_jobs(inputs.topics, case / "work", GRID, indicators_for=None,
                                     max_parallel=1)

    workers = [threading.Thread(target=sweep, args=(case,)) for case in (full, part)]
    for w in workers:
        w.start()
    out = tmp_path / "alone"
    report = evaluate([full / "prices.csv"], [full / "news.csv"], out,
                      Options(exec=ExecConfig(100_000.0, Costs(5, 1, 0.5),
                                              {"sizing_fraction": 0.1, "risk_cooldown_seconds": 0}),
                              params=GRID[2], mc_paths=200, indicators=True))
    for w in workers:
        w.join()

    every = [read_parts(d / "signals") for d in sweeps["full"]]
    assert len({tuple(sorted(map(_key, s))) for s in every}) == len(GRID), \
        "each set signals differently"
    alone = [json.loads(x) for x in (out / "signals.jsonl").read_text().splitlines()]
    _same(every[2], alone)
    # a setup turned off never fires
    assert any("MACD" in s["reason"] for s in every[0])
    assert not any("MACD" in s["reason"] for s in every[1])
    for full_sigs, prefix_dir in zip(every, sweeps["prefix"]):
        head = [s for s in full_sigs if s["bar_time"] <= stamp]
        assert len(head) >= 2 and len(full_sigs) > len(head), \
            "each set must signal before and after bar k"
        _same(read_parts(prefix_dir / "signals"), head)

    # the report of the full run
    assert report["signals"]["count"] == len(alone)
    assert report["strategy"]["trades"] + report["strategy"]["open_trades"] >= 1
    assert sum(report["decisions"].values()) == len(alone)
    assert [q["horizon_bars"] for q in report["signal_quality"]["horizons"]] == [1, 5, 15, 60]
    assert report["signal_quality"]["own_horizon"]["horizon_bars"] == [15]
    assert report["annualisation"]["bars_per_year"] == 252 * N  # all bars on one trading day
    for name in ("report.json", "equity.csv", "positions.csv", "trades.jsonl", "fills.jsonl",
                 "decisions.jsonl", "indicators.jsonl"):
        assert (out / name).stat().st_size > 0, name
    page = (out / "report.html").read_text()
    assert "SMA20" in page and "Bollinger" in page  # the charts' overlays (indicators=True)
    assert "<svg" in page and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    # orders filled in a bar after the one they were decided on (bracket legs: after the entry)
    fills = [json.loads(x) for x in (out / "fills.jsonl").read_text().splitlines()]
    assert fills and all(f["time"] >= f["decided_bar_time"] and f["bar_time"] > f["decided_bar_time"]
                         for f in fills if f["decided_bar_time"])
    # every closed trade says why, and the report shows the exits
    trades = [json.loads(x) for x in (out / "trades.jsonl").read_text().splitlines()]
    for tr in trades:
        assert tr["open"] or tr["exit_reason"] in ("stop_loss", "take_profit", "horizon", "signal")
        assert tr["entry_bar_time"] <= (tr["exit_bar_time"] or tr["entry_bar_time"])
    assert "<h2>Exits</h2>" in page
    # the headline says what the strategy held, and buy and hold at that same exposure
    assert report["sizing"]["text"] == "10.0% of equity per trade"
    held = report["strategy"]["average_gross_exposure"]
    at = report["buy_and_hold"]["total_return_at_strategy_exposure"]
    assert 0 < held < 1 and abs(at) < abs(report["buy_and_hold"]["total_return"])
    assert "Sized at 10.0% of equity per trade: the strategy held" in page
