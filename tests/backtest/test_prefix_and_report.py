"""No look-ahead, proven on the real job: the bounded run over the first k bars emits exactly the
signals the run over all bars emits up to bar k (the prefix property the walk-forward relies
on). The full run is the whole `evaluate` pipeline, so its report is checked here too: two
Flink runs in all, side by side."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from backtest.evaluate import Options, evaluate
from backtest.execution import Costs, ExecConfig
from backtest.run import prepare_inputs, run_jobs

from .helpers import read_parts
from .synthetic import START, write_prefix_case

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


def test_prefix_property_and_report(tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "prefix"
    stamp = write_prefix_case(full, part, N, K, NEWS)

    prefix_dirs: list[Path] = []

    def prefix_run() -> None:
        inputs = prepare_inputs([part / "prices.csv"], [part / "news.csv"], part, part / "work")
        prefix_dirs.extend(run_jobs(inputs.topics, part / "work", [{}], indicators_for=None))

    worker = threading.Thread(target=prefix_run)
    worker.start()
    report = evaluate([full / "prices.csv"], [full / "news.csv"], full / "out",
                      Options(exec=ExecConfig(100_000.0, Costs(5, 1, 0.5),
                                              {"sizing_fraction": 0.1, "risk_cooldown_seconds": 0}),
                              mc_paths=200))
    worker.join()

    every = [json.loads(x) for x in (full / "out" / "signals.jsonl").read_text().splitlines()]
    head = sorted((s for s in every if s["bar_time"] <= stamp), key=_key)
    prefix = sorted(read_parts(prefix_dirs[0] / "signals"), key=_key)
    assert len(head) >= 4 and len(every) > len(head), "the series must signal before and after bar k"
    assert [_key(s) for s in prefix] == [_key(s) for s in head]
    for a, b in zip(prefix, head):
        assert _numbers(a) == pytest.approx(_numbers(b), rel=1e-12)

    # the report of the full run
    assert report["signals"]["count"] == len(every)
    assert report["strategy"]["trades"] + report["strategy"]["open_trades"] >= 1
    assert sum(report["decisions"].values()) == len(every)
    assert [q["horizon_bars"] for q in report["signal_quality"]["horizons"]] == [1, 5, 15, 60]
    assert report["signal_quality"]["own_horizon"]["horizon_bars"] == [30]
    assert report["annualisation"]["bars_per_year"] == 252 * N  # all bars on one trading day
    for name in ("report.json", "equity.csv", "positions.csv", "trades.jsonl", "fills.jsonl",
                 "decisions.jsonl", "indicators.jsonl"):
        assert (full / "out" / name).stat().st_size > 0, name
    page = (full / "out" / "report.html").read_text()
    assert "<svg" in page and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    # orders filled in a bar after the one they were decided on (bracket legs: after the entry)
    fills = [json.loads(x) for x in (full / "out" / "fills.jsonl").read_text().splitlines()]
    assert fills and all(f["time"] >= f["decided_bar_time"] and f["bar_time"] > f["decided_bar_time"]
                         for f in fills if f["decided_bar_time"])
    # every closed trade says why, and the report shows the exits
    trades = [json.loads(x) for x in (full / "out" / "trades.jsonl").read_text().splitlines()]
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
