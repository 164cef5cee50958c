"""`tradeflow optimize`: the objectives and their purging on hand-made bars and signals (no
Flink), the command's refusals, and one end-to-end run on a slice of real daily bars (Flink)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from backtest.execution import Costs, ExecConfig
from backtest.metrics import curve_metrics, trade_metrics
from backtest.optimize import default_embargo, on_grid, stability
from backtest.grid import grid_points
from backtest.signal_quality import spearman
from backtest import walk_forward as walk_forward_module
from backtest.walk_forward import (OBJECTIVES, WindowRun, best, make_windows, score_json,
                                   walk_forward)
from tradeflow.cli import cli
from tradeflow.contracts import Action

from tests.conftest import shared_file
from .helpers import daily_bars, daily_end, frame, signal
from .synthetic import write_prices

CFG = ExecConfig(100_000.0, Costs(0, 0, 0), {"sizing_fraction": 0.05})
INF = float("inf")


def _run(bars: pd.DataFrame, sigs: list, first: int, last: int) -> WindowRun:
    return WindowRun(bars, sigs, pd.Timestamp(daily_end(first)), pd.Timestamp(daily_end(last)),
                     CFG, 252)


def _with_horizon(sig, horizon: int):
    return sig.model_copy(update={"horizon_bars": horizon})


# --- objectives -------------------------------------------------------------------------------

OPENS = [100.0, 100.0, 105.0, 110.0, 110.0, 100.0, 100.0, 100.0, 100.0, 100.0]
WIN = [signal("AAA", "BUY", daily_end(1), 100.0), signal("AAA", "SELL", daily_end(2), 105.0)]


@pytest.fixture
def one_trade_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """These hand-made windows hold one or two trades: let them rank."""
    monkeypatch.setattr(walk_forward_module, "MIN_TRADES", 1)


def test_objectives_of_a_winning_round_trip(one_trade_counts) -> None:
    run = _run(frame(daily_bars("AAA", OPENS, OPENS)), WIN, 0, 4)
    eq = run.result.equity["equity"]
    assert OBJECTIVES["sharpe"](run) == pytest.approx(curve_metrics(eq, CFG.cash, 252)["sharpe"])
    assert OBJECTIVES["sharpe"](run) > 0
    # one winning trade, no loss: profit factor and Calmar (no drawdown) are unboundedly good
    assert trade_metrics(run.result.trades)["trades"] == 1
    assert OBJECTIVES["profit_factor"](run) == INF
    assert OBJECTIVES["calmar"](run) == INF
    assert score_json(INF) == "inf" and score_json(-INF) is None and score_json(1.5) == 1.5


def test_objectives_with_a_loss_are_the_metrics(one_trade_counts) -> None:
    opens = [100.0, 100.0, 105.0, 110.0, 110.0, 100.0, 100.0, 95.0, 95.0, 95.0]
    sigs = [*WIN, signal("AAA", "BUY", daily_end(4), 110.0), signal("AAA", "SELL", daily_end(6), 100.0)]
    run = _run(frame(daily_bars("AAA", opens, opens)), sigs, 0, 9)
    t = trade_metrics(run.result.trades)
    assert t["trades"] == 2 and t["gross_loss"] > 0
    assert OBJECTIVES["profit_factor"](run) == pytest.approx(t["profit_factor"])
    c = curve_metrics(run.result.equity["equity"], CFG.cash, 252)
    assert OBJECTIVES["calmar"](run) == pytest.approx(c["calmar"])


def test_too_few_trades_rank_nothing_by_profit_factor_or_calmar() -> None:
    run = _run(frame(daily_bars("AAA", OPENS, OPENS)), WIN, 0, 4)
    assert trade_metrics(run.result.trades)["trades"] == 1 < walk_forward_module.MIN_TRADES
    assert OBJECTIVES["profit_factor"](run) == -INF and OBJECTIVES["calmar"](run) == -INF
    assert OBJECTIVES["sharpe"](run) > 0


def test_objectives_without_signals_are_undefined() -> None:
    run = _run(frame(daily_bars("AAA", OPENS, OPENS)), [], 0, 9)
    assert all(score(run) == -INF for score in OBJECTIVES.values())


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_a_train_score_ignores_everything_after_the_window(name: str) -> None:
    closes = [100.0, 102.0, 101.0, 104.0, 103.0, 106.0, 105.0, 108.0, 107.0, 110.0]
    sigs = [_with_horizon(s, 2) for s in
            (signal("AAA", "BUY", daily_end(0), 100.0), signal("AAA", "SELL", daily_end(1), 102.0),
             signal("AAA", "BUY", daily_end(3), 104.0), signal("AAA", "SELL", daily_end(5), 106.0),
             signal("AAA", "BUY", daily_end(6), 105.0))]
    other_future = closes[:7] + [50.0, 300.0, 20.0]
    a = _run(frame(daily_bars("AAA", closes, closes)), sigs, 0, 6)
    b = _run(frame(daily_bars("AAA", other_future, other_future)), sigs, 0, 6)
    assert OBJECTIVES[name](a) == OBJECTIVES[name](b)


# --- IC purging -------------------------------------------------------------------------------

CLOSES = [100.0, 102.0, 101.0, 104.0, 103.0, 106.0, 105.0, 108.0, 107.0, 110.0]
IC_SIGNALS = [_with_horizon(signal("AAA", a, daily_end(i), CLOSES[i]), h) for a, i, h in
              [("BUY", 0, 2), ("SELL", 1, 2), ("BUY", 3, 2), ("SELL", 4, 2), ("BUY", 5, 4)]]


def test_ic_counts_only_signals_whose_horizon_ends_in_the_train_window() -> None:
    bars = frame(daily_bars("AAA", CLOSES, CLOSES))
    run = _run(bars, IC_SIGNALS, 0, 7)  # the last signal's horizon ends at day 9, past day 7
    measured = run.forward[run.forward["end_own"] >= 0]
    assert list(measured["signal_id"]) == [s.signal_id for s in IC_SIGNALS[:4]]
    assert measured["end_own"].max() <= 7
    d = [1, -1, 1, -1]
    r = [CLOSES[i + 2] / CLOSES[i] - 1 for i in (0, 1, 3, 4)]
    assert OBJECTIVES["ic"](run) == pytest.approx(spearman(d, r))
    # the same signal counts once its horizon is inside the window
    whole = _run(bars, IC_SIGNALS, 0, 9)
    assert whole.quality["signals"] == 5 and run.quality["signals"] == 4
    assert OBJECTIVES["ic"](whole) != pytest.approx(OBJECTIVES["ic"](run))


def test_walk_forward_chooses_by_the_objective() -> None:
    bars = frame(daily_bars("AAA", CLOSES, CLOSES))
    # on days 0-6, IC_SIGNALS' BUYs are followed by the smaller rises: the flipped ones are right
    flip = {Action.BUY: Action.SELL, Action.SELL: Action.BUY}
    flipped = [s.model_copy(update={"action": flip[s.action]}) for s in IC_SIGNALS]
    windows = make_windows(10, folds=1, embargo=1, train=7, test=2)
    wf = walk_forward(bars, [{"p": 0}, {"p": 1}], [IC_SIGNALS, flipped], windows, CFG, 252,
                      "ic")
    assert wf.scores[0][1] > 0
    assert wf.chosen == [best(wf.scores[0])] == [1]
    assert wf.scores[0][0] == pytest.approx(-wf.scores[0][1])
    assert set(wf.to_dict(pd.DatetimeIndex(sorted(bars["time"].unique())))[0]) >= {"train_ic"}


# --- report pieces ----------------------------------------------------------------------------

def test_on_grid_moves_measured_positions_only() -> None:
    fwd = pd.DataFrame({"start": [0, 3], "end_own": [2, -1], "end1": [1, 4], "r_own": [0.1, None]})
    moved = on_grid(fwd, 10)
    assert list(moved["start"]) == [10, 13] and list(moved["end_own"]) == [12, -1]
    assert list(moved["end1"]) == [11, 14] and list(fwd["start"]) == [0, 3]


def test_stability_figures() -> None:
    chosen = [{"a": 1, "b": 2}, {"a": 1, "b": 3}, {"a": 2, "b": 3}, {"a": 1, "b": 2}]
    st = stability(["a", "b"], chosen)
    assert st["a"] == {"per_fold": [1, 1, 2, 1], "most_frequent": 1, "share": 0.75, "changes": 2}
    assert st["b"] == {"per_fold": [2, 3, 3, 2], "most_frequent": 2, "share": 0.5, "changes": 2}


def test_grid_points_refuse_unknown_names_and_empty_values() -> None:
    defaults = {"rsi_oversold": 30, "rsi_overbought": 70}
    assert grid_points({"rsi_oversold": [25, 35]}, {"rsi_overbought": 65}, defaults) == [
        {"rsi_overbought": 65, "rsi_oversold": 25}, {"rsi_overbought": 65, "rsi_oversold": 35}]
    with pytest.raises(ValueError, match="unknown strategy parameter.*rsi_oversld"):
        grid_points({"rsi_oversld": [25]}, {}, defaults)
    with pytest.raises(ValueError, match="no values in the grid for: rsi_oversold"):
        grid_points({"rsi_oversold": []}, {}, defaults)
    with pytest.raises(ValueError, match="rsi_overbought takes a number, not 'high'"):
        grid_points({"rsi_oversold": [25]}, {"rsi_overbought": "high"}, defaults)


def test_the_default_embargo_outlasts_every_grid_points_horizon() -> None:
    defaults = {"horizon_bars": 30}
    assert default_embargo([{"rsi_oversold": 25}], defaults) == 30
    assert default_embargo([{"horizon_bars": 10}, {"horizon_bars": 45}], defaults) == 45


def test_the_command_offers_every_objective() -> None:
    from backtest.cli import optimize

    choice = next(p for p in optimize.params if p.name == "objective").type
    assert sorted(choice.choices) == sorted(OBJECTIVES)


@pytest.mark.parametrize("args,message", [
    (["--grid", "rsi_oversld=25,35"], "unknown strategy parameter(s): rsi_oversld"),
    (["--param", "nope=1"], "unknown strategy parameter(s): nope"),
    (["--grid", "rsi_oversold="], "no values in the grid for: rsi_oversold"),
    (["--grid", "rsi_oversold=25,low"], "rsi_oversold takes a number, not 'low'"),
    (["--folds", "4"], "too few"),
])
def test_the_command_refuses_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    write_prices(tmp_path / "prices.csv", 30)  # 30 bar times: too few for 4 folds and embargo 30
    result = CliRunner().invoke(cli, ["optimize", "--prices", str(tmp_path / "prices.csv"),
                                      "--out", str(tmp_path / "out"), *args])
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output


# --- end to end on real bars ------------------------------------------------------------------

def _real_slice(path: Path) -> None:
    """Two symbols of the LEAN daily bars, 2010 to mid-2011: 377 bar times."""
    source = shared_file("lean-us-equity-daily/lean_daily_trade_bars.csv")
    with open(source, newline="") as f, open(path, "w", newline="") as out:
        rows = csv.reader(f)
        w = csv.writer(out)
        w.writerow(next(rows))
        w.writerows(r for r in rows if r[0] in ("AAPL", "IBM") and "2010-01-01" <= r[1] < "2011-07-01")


def _score(s: float | str | None) -> float:
    return -INF if s is None else float(s)


@pytest.mark.flink
@pytest.mark.integration
@pytest.mark.shared_data
def test_optimize_reports_only_test_windows(tmp_path: Path) -> None:
    _real_slice(tmp_path / "prices.csv")
    embargo = 5
    proc = subprocess.run(
        [sys.executable, "-m", "tradeflow.cli", "optimize", "--prices", "prices.csv",
         "--out", "out", "--grid", "rsi_oversold=25,35", "--folds", "2",
         "--embargo", str(embargo)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads((tmp_path / "out" / "optimize.json").read_text())
    folds = r["folds"]
    assert len(folds) == 2 and r["embargo_bars"] == embargo and r["objective"] == "sharpe"

    # test windows: after their train window and the embargo, consecutive, never overlapping
    for f in folds:
        assert f["test_steps"][0] - f["train_steps"][1] == embargo
        assert pd.Timestamp(f["train_end"]) < pd.Timestamp(f["test_start"])
    for a, b in zip(folds, folds[1:]):
        assert a["test_steps"][1] == b["test_steps"][0]
        assert pd.Timestamp(a["test_end"]) < pd.Timestamp(b["test_start"])
    o = r["out_of_sample"]
    assert pd.Timestamp(o["start"]) == pd.Timestamp(folds[0]["test_start"])
    assert pd.Timestamp(o["end"]) == pd.Timestamp(folds[-1]["test_end"])
    assert o["strategy"]["bars"] == folds[-1]["test_steps"][1] - folds[0]["test_steps"][0]

    # each choice is the argmax of its train scores (ties: the earlier grid point)
    for f in folds:
        scores = [_score(s) for s in f["train_scores"]]
        top = max(scores)
        assert f["chosen"] == scores.index(top)
        assert f["params"] == r["grid"][f["chosen"]]
        assert _score(f["train_objective"]) == top

    # stability from the per-fold choices
    st = r["stability"]["rsi_oversold"]
    chosen = [f["params"]["rsi_oversold"] for f in folds]
    assert st["per_fold"] == chosen
    assert st["share"] == chosen.count(st["most_frequent"]) / len(chosen)
    assert st["changes"] == sum(x != y for x, y in zip(chosen, chosen[1:]))

    md = (tmp_path / "out" / "optimize.md").read_text()
    assert "Only the test windows are results" in md and "## Parameter stability" in md
    assert "out of sample (stitched)" in proc.stdout
