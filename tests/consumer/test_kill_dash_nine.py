"""A real process killed with SIGKILL in the middle of its work, then started again."""

from __future__ import annotations

import pytest

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import timedelta

from tests.conftest import REPO_ROOT, eventually
from tests.consumer.conftest import IN_SESSION, line
from tradeflow.trading.executors.paper import load_state

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

N = 200
SYMBOLS = ("AAPL", "MSFT", "GOOG", "AMZN", "SPY", "NVDA", "META", "TSLA", "NFLX", "ORCL")


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    code = "from consumer.cli import consume; consume()"
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def decided(db) -> Counter:
    try:
        with sqlite3.connect(db) as conn:
            return Counter(r[0] for r in conn.execute(
                "SELECT signal_id FROM events WHERE kind='decision'"))
    except sqlite3.OperationalError:  # not created yet
        return Counter()


def test_sigkill_at_any_moment_loses_and_repeats_nothing(h):
    # Alternating BUY/SELL per symbol over N signals: each one approved (the cooldown is off).
    batch = [line(signal_id=f"k-{i}", symbol=SYMBOLS[i % 10],
                  action="BUY" if (i // 10) % 2 == 0 else "SELL",
                  bar_time=IN_SESSION + timedelta(seconds=i)) for i in range(N)]
    h.publish_signals(batch)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TRADEFLOW_RISK_MAX_OPEN_POSITIONS": "0",
           "TRADEFLOW_RISK_MAX_GROSS_EXPOSURE": "0"}
    db = h.data / "audit.sqlite"
    proc = start(env)
    # Kill it once it is busy deciding.
    eventually(lambda: db.exists() and 5 <= sum(decided(db).values()),
               "the consumer deciding", timeout=60, every=0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert sum(decided(db).values()) < N, "the consumer finished before it could be killed"

    again = start(env, "--once")
    out = again.communicate(timeout=30)[0].decode()
    assert again.returncode == 0, out
    assert decided(db) == Counter({f"k-{i}": 1 for i in range(N)})
    with sqlite3.connect(db) as conn:
        approved = conn.execute("SELECT count(*) FROM processed WHERE approved=1").fetchone()[0]
    paper, _ = load_state(h.data / "paper-broker.json", 0.0)
    assert approved == N and len(paper["orders"]) == N
    assert paper["positions"] == {}  # every BUY was closed by its SELL exactly once
