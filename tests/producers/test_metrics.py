"""A producer's /metrics and /healthz (tradeflow/observability.py), and the feed watch behind
every service's health, on a fake clock."""

from __future__ import annotations

import pytest

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from tests.conftest import eventually
from tests.consumer.test_metrics import get, samples, value
from tradeflow.config import PRICES
from tradeflow.observability import FeedWatch, Health
from tradeflow.processes import free_port


@pytest.mark.integration
def test_live_simulator_serves_its_counts_and_health(settings):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeflow.cli", "produce", "--metrics-port", str(port), "sim",
         "--live", "--history-bars", "3", "--symbols", "AAPL,MSFT"],
        env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        found = eventually(lambda: (m := samples(port)) and value(
            m, "tradeflow_records_published_total", topic=PRICES) >= 6 and m,
            "the three history bars of two symbols on /metrics", timeout=60)
        # Live bars are published as they end: the newest is at most a bar old.
        assert 0 <= value(found, "tradeflow_feed_lag_seconds", topic=PRICES) <= 120
        assert value(found, "tradeflow_feed_idle_seconds", topic=PRICES) < 30
        status, body = get(port, "/healthz")
        assert (status, json.loads(body)["status"]) == (200, "ok")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.integration
def test_a_busy_metrics_port_is_one_line(settings):
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as squatter:
        try:
            eventually(lambda: get(port, "/")[0] == 200, "a server on the port", timeout=30)
            out = subprocess.run([sys.executable, "-m", "tradeflow.cli", "produce",
                                  "--metrics-port", str(port), "sim", "--bars", "1"],
                                 capture_output=True, text=True, timeout=60)
        finally:
            squatter.terminate()
    assert out.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_feed_watch_turns_unhealthy_after_its_silence_and_back():
    now = [100.0]
    wall = datetime(2024, 3, 5, 15, 0, tzinfo=timezone.utc)
    watch = FeedWatch("test-topic", stale_after=30, clock=lambda: now[0], wall=lambda: wall)
    health = Health()
    health.add("feed", watch.problem)
    now[0] += 30
    assert health.report() == (True, {"feed": "ok"})
    now[0] += 1
    assert health.report() == (False, {"feed": "test-topic: silent for 31 s (since the start, "
                                                "no record yet)"})
    watch.saw(0)  # an empty poll is not a sign of life
    assert not health.report()[0]
    assert math.isnan(watch.lag())  # no event time seen yet
    watch.saw(3, wall - timedelta(seconds=90))
    watch.saw(1, wall - timedelta(seconds=200))  # an older record does not make the feed older
    assert health.report() == (True, {"feed": "ok"}) and watch.idle() == 0
    assert watch.lag() == 90
    now[0] += 45
    assert health.report()[1]["feed"] == "test-topic: silent for 45 s (since its last record)"


def test_a_failing_check_is_a_finding_not_a_crash():
    health = Health()
    health.add("store", lambda: 1 / 0)
    assert health.report() == (False, {"store": "check failed: ZeroDivisionError: division by zero"})
