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
        found = eventually(
            lambda: (m := samples(port))
            and value(m, "tradeflow_signals_total", decision="duplicate", rule="") == 1 and m,
            "the second delivery counted as a duplicate", timeout=120)
        # One BUY approved, the same record again a duplicate; `{not json` is dead-lettered on
        # each delivery (it has no id to remember).
        assert value(found, "tradeflow_signals_total", decision="approved", rule="approved") == 1
        assert value(found, "tradeflow_signals_total", decision="dead_letter", rule="") == 2
        assert value(found, "tradeflow_records_published_total", topic=PRICES) == 12
        status, body = get(port, "/healthz")
        assert (status, json.loads(body)["checks"]) == (200, {"aws": "ok"})
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "aws-local demo: OK" in out
