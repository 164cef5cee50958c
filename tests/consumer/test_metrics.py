"""The consumer's Prometheus endpoint: the age of each signal at its decision."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

from tradeflow.processes import free_port
from tradeflow.config import SIGNALS
from tradeflow.topics import Record
from tradeflow.topics.file import FileBackend

from .conftest import line


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def test_consumer_serves_the_signal_age_at_decision(settings):
    with FileBackend(settings.path(), 1 << 20, 0.05) as backend:
        backend.publish(SIGNALS, [Record("AAPL", line()), Record("MSFT", line(symbol="MSFT"))])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tradeflow.cli", "consume", "--broker", "paper",
                             "--metrics-port", str(port)],
                            env={**os.environ, "TRADEFLOW_RISK_CLOCK": "wall",
                                 "TRADEFLOW_RISK_MARKET_HOURS": "false"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def value(text: str, name: str) -> float:
        found = re.search(rf"^tradeflow_signal_age_at_decision_seconds_{name} (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    try:
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline and value(text, "count") < 2:
            time.sleep(0.2)
            text = scrape(port)
    finally:
        proc.terminate()
        proc.wait(10)
    assert value(text, "count") == 2
    # Both bars ended 5 s before the signals were written (conftest.signal).
    assert value(text, "sum") >= 10
