"""`tradeflow backtest` as a user runs it: a command started from wherever the user's files are.

The job's Python function runs in an interpreter embedded in Flink's JVM, which has its own
idea of where modules are; this checks it finds the project's, outside the repository too."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tradeflow.sentiment import score

from .synthetic import START, write_news, write_prices

pytestmark = pytest.mark.flink
HEADLINE = "Company profit rose sharply, beat expectations"


def test_backtest_command_scores_news_when_started_outside_the_repo(tmp_path: Path, settings) -> None:
    write_prices(tmp_path / "prices.csv", 200)
    write_news(tmp_path / "news.csv", [(START + timedelta(minutes=10), sym, HEADLINE)
                                       for sym in ("AAA", "BBB")])
    proc = subprocess.run(
        [sys.executable, "-m", "tradeflow.cli", "backtest", "--prices", "prices.csv",
         "--news", "news.csv", "--out", "out", "--signals-only"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]

    signals = [json.loads(line) for line in (tmp_path / "out" / "signals.jsonl").open()]
    assert signals, "the series must signal"
    # every signal comes after the warm-up, so after both stories: each sees its symbol's one story
    assert [s["sentiment"] for s in signals] == pytest.approx(
        [score(HEADLINE, "finance").score] * len(signals), rel=1e-12)
