"""`tradeflow parity` on a run of the real services: the simulator's bars and headlines, the
signal job's signals on `trading-signals`, and `tradeflow consume` trading them on the paper
broker. The replay through the bounded job and the backtest's engine finds no difference; each
kind of tampering with what the run recorded is found, in its own category."""

from __future__ import annotations

import shutil
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import pytest

from tools.demo import DEMO_START, settings_for, tradeflow
from backtest.parity import (
    ParityError,
    Recorded,
    _valid,
    compare,
    read_run,
    replay,
)
from backtest.run import _write_ndjson, load_signals
from backtest.workers import run_job
from tradeflow.config import NEWS, PRICES, SIGNALS, ConsumerSettings
from tradeflow.contracts import NewsItem, PriceBar
from tradeflow.topics import Record, open_backend, read_all

SYMBOLS = "AAPL,MSFT,NVDA,AMZN,GOOG"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir as a pipeline run leaves it. The signals are the bounded job's over the
    recorded topics (the streaming job gives the same ids: tests/job)."""
    root = tmp_path_factory.mktemp("parity")
    data = root / "data"
    tradeflow(data, "produce", "sim", "--speed", "0", "--bars", "300", "--symbols", SYMBOLS,
              "--start", DEMO_START)
    settings = settings_for(data)
    with open_backend("file", settings) as backend:
        _write_ndjson(root / "in" / PRICES / "x.ndjson",
                      _valid(PriceBar, read_all(backend, PRICES)))
        _write_ndjson(root / "in" / NEWS / "x.ndjson",
                      _valid(NewsItem, read_all(backend, NEWS)))
        run_job(root / "in", root / "job", indicators=False)
        signals, _ = load_signals(root / "job")
        backend.publish(SIGNALS, [Record(s.symbol, s.to_json()) for s in signals])
    tradeflow(data, "consume", "--once", "--broker", "paper", timeout=300)
    return data


def _parity(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradeflow.cli", "--data-dir", str(data),
                           "--backend", "file", "parity"],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.flink
def test_a_run_and_its_replay_take_the_same_decisions(run_dir: Path) -> None:
    proc = _parity(run_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    compared = next(line for line in proc.stdout.splitlines() if line.startswith("compared:"))
    counts = {what: int(n) for n, what in (part.split(" ", 1) for part in
                                           compared.removeprefix("compared: ").split(", "))}
    assert counts["signals"] > 50 and counts["decisions"] == counts["signals"], counts
    assert counts["orders"] > 10 and counts["fills"] > 10, counts
    assert "differences: 0" in proc.stdout


@pytest.fixture(scope="module")
def recorded(run_dir: Path) -> tuple[Recorded, ConsumerSettings]:
    settings, consumer = settings_for(run_dir), ConsumerSettings()
    with open_backend("file", settings) as backend:
        return read_run(backend, settings, consumer), consumer


@pytest.mark.flink
def test_every_kind_of_difference_is_found(run_dir: Path, recorded, tmp_path: Path) -> None:
    rec, consumer = recorded
    done = run_dir / "parity" / "run"  # the replay of the test above: its job's signals
    if not (done / "signals").exists():
        pytest.skip("needs the replay of test_a_run_and_its_replay_take_the_same_decisions")
    rep = replay(rec, tmp_path / "work", consumer,
                 run=lambda topics, out: shutil.copytree(done, out))
    assert compare(rec, rep).total == 0

    live = deepcopy(rec)
    approved = [sid for sid, d in live.decisions.items() if d["approved"]]
    vetoed = [sid for sid, d in live.decisions.items() if not d["approved"]]
    filled = [o for o in live.orders.values() if o.filled_qty > 0]
    live.signals.pop(vetoed[0])
    live.decisions[vetoed[1]] = {**live.decisions[vetoed[1]], "rule": "cooldown"}
    live.decisions[vetoed[2]] = {**live.decisions[vetoed[2]], "rule": "staleness",
                                 "reason": "bar_time is 90s in the future of the wall clock"}
    del live.decisions[vetoed[3]]
    live.orders[filled[0].client_order_id] = filled[0].model_copy(
        update={"filled_avg_price": filled[0].filled_avg_price * 1.001})
    live.orders.pop(filled[1].client_order_id)
    live.orders[filled[2].client_order_id] = filled[2].model_copy(
        update={"exit_reason": "take_profit"})
    assert approved

    report = compare(live, rep)
    assert {k: len(v) for k, v in report.differences.items()} == {
        "signal only in the replay": 1, "decision rule": 1, "vetoed on the wall clock": 1,
        "decision only in the replay": 1, "fill filled_avg_price": 1,
        "order only in the replay": 1, "order exit_reason": 1}
    assert report.total == 7
    assert vetoed[1] in report.differences["decision rule"][0]
    assert filled[0].client_order_id in report.differences["fill filled_avg_price"][0]
    assert any(line == "differences: 7" for line in report.lines())


@pytest.mark.integration
def test_parity_needs_a_run(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "tradeflow.cli", "--data-dir",
                           str(tmp_path / "empty"), "parity"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "no consumer audit trail" in proc.stderr and "Traceback" not in proc.stderr


def test_parity_refuses_a_run_on_another_broker(tmp_path: Path) -> None:
    """Fills at Alpaca are Alpaca's: a replay on the paper broker cannot reproduce them."""
    from datetime import datetime, timezone

    from tradeflow.config import ORDERS
    from tradeflow.contracts import Order, build
    from tradeflow.trading.store import Store

    data = tmp_path / "data"
    settings, consumer = settings_for(data), ConsumerSettings()
    Store(consumer.audit_path(settings)).close()
    now = datetime(2024, 3, 5, 15, 0, tzinfo=timezone.utc)
    order = build(Order, client_order_id="tf-1", signal_id="s-1", symbol="AAPL", side="buy",
                  qty=1.0, status="accepted", broker="alpaca", submitted_at=now, updated_at=now)
    with open_backend("file", settings) as backend:
        backend.publish(ORDERS, [Record("AAPL", order.to_json())])
        with pytest.raises(ParityError, match="traded on alpaca"):
            read_run(backend, settings, consumer)
