"""Walk-forward windows and parameter selection (hand-made signals, no Flink)."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest.execution import Costs, ExecConfig
from backtest.grid import expand_grid
from backtest.walk_forward import make_windows, walk_forward

from .helpers import daily_bars, daily_end, frame, signal


@pytest.mark.parametrize("steps,folds,embargo,anchored", [
    (1258, 4, 30, False), (1258, 4, 30, True), (500, 3, 0, False), (97, 5, 7, False)])
def test_windows_never_overlap_and_respect_the_embargo(steps, folds, embargo, anchored) -> None:
    ws = make_windows(steps, folds, embargo, anchored=anchored)
    assert len(ws) == folds
    for w in ws:
        assert 0 <= w.train[0] < w.train[1] and w.test[0] < w.test[1] <= steps
        assert w.test[0] - w.train[1] == embargo  # embargo steps lie between train and test
    for a, b in zip(ws, ws[1:]):
        assert a.test[1] == b.test[0]  # consecutive and disjoint
    assert ws[-1].test[1] == steps
    tested = [i for w in ws for i in range(*w.test)]
    assert len(tested) == len(set(tested))
    if anchored:
        assert all(w.train[0] == 0 for w in ws)
    else:
        assert len({w.train[1] - w.train[0] for w in ws}) == 1


def test_too_little_data_is_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        make_windows(35, 4, 30)


def test_grid_expansion() -> None:
    assert expand_grid({"a": [1, 2], "b": [3]}) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]


def test_selection_on_train_and_stitched_test_windows() -> None:
    # Ten days; a round trip in days 0-3 is profitable for grid point 1 and not traded by 0.
    opens = [100.0, 100.0, 105.0, 110.0, 110.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    bars = frame(daily_bars("AAA", opens, opens))
    good = [signal("AAA", "BUY", daily_end(1), 100.0), signal("AAA", "SELL", daily_end(2), 105.0),
            signal("AAA", "BUY", daily_end(6), 100.0, sid="g-late")]
    idle = [signal("AAA", "BUY", daily_end(7), 100.0, sid="i-late")]
    windows = make_windows(10, folds=1, embargo=2, train=4, test=4)
    assert (windows[0].train, windows[0].test) == ((0, 4), (6, 10))
    wf = walk_forward(bars, [{"p": 0}, {"p": 1}], [idle, good], windows,
                      ExecConfig(100_000.0, Costs(0, 0, 0), {"sizing_fraction": 0.1}), 252)
    assert wf.chosen == [1]
    assert wf.scores[0][0] == float("-inf") and wf.scores[0][1] > 0
    # `tradeflow backtest --walk-forward` reports train Sharpe under the same key as before
    fold = wf.to_dict(pd.DatetimeIndex(sorted(bars["time"].unique())))[0]
    assert fold["train_sharpe"] == {"0": None, "1": wf.scores[0][1]}
    # only the test window is reported, traded with the chosen point's test-window signals
    assert wf.result.equity.index[0] == pd.Timestamp(daily_end(6))
    assert [d["signal_id"] for d in wf.result.decisions] == ["g-late"]
