"""`make aws-local` (tools/aws_local.py) with --metrics-port: the real handlers on moto, their
decisions and records on /metrics while it keeps running, and the AWS endpoint's health."""

from __future__ import annotations

import pytest

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import eventually
from tests.consumer.test_metrics import get, samples, value
from tradeflow.config import PRICES
from tradeflow.processes import free_port

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_local_lambda_runner_serves_the_handlers_metrics():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "tools/aws_local.py", "--keep-running",
                             "--metrics-port", str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # One BUY approved, the same record again a duplicate; `{not json` is dead-lettered on
        # each delivery (it has no id to remember). The counts are read once all have landed:
        # a scrape can fall between two records of a delivery.
        expected = {("approved", "approved"): 1, ("duplicate", ""): 1, ("dead_letter", ""): 2}

        def decisions(m: dict) -> dict:
            return {key: value(m, "tradeflow_signals_total", decision=key[0], rule=key[1])
                    for key in expected}

        found = eventually(lambda: (m := samples(port)) and decisions(m) == expected and m,
                           f"decisions {expected} on /metrics", timeout=120)
        assert value(found, "tradeflow_records_published_total", topic=PRICES) == 12
        status, body = get(port, "/healthz")
        assert (status, json.loads(body)["checks"]) == (200, {"aws": "ok"})
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "aws-local demo: OK" in out
