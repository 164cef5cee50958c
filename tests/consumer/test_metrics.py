"""The consumer's /metrics and /healthz, scraped from a real `tradeflow consume` process, and the
engine's counters where a broker fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import eventually
from tradeflow.config import PRICES, SIGNALS
from tradeflow.contracts import Clock
from tradeflow.processes import free_port
from tradeflow.topics import Record
from tradeflow.topics.file import FileBackend

from .conftest import line


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


def samples(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample of the endpoint, by (name, labels)."""
    status, text = get(port, "/metrics")
    if status != 200:
        return {}
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@contextmanager
def pulse(backend: FileBackend) -> Iterator[Callable[[], None]]:
    """A producer's clock on stock-prices every 0.2 s, as `tradeflow produce` sends between bars:
    the consumer's feed. It beats until the block ends or the `stop` it yields is called."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(0.2):
            backend.broadcast(PRICES, Clock(clock=datetime.now(timezone.utc), source="test").to_json())
            backend.flush()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join()

    try:
        yield stop
    finally:
        stop()


@pytest.fixture
def consumer_port(settings) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tradeflow.cli", "consume", "--broker", "paper",
                             "--metrics-port", str(port)],
                            env={**os.environ, "TRADEFLOW_RISK_CLOCK": "wall",
                                 "TRADEFLOW_RISK_MARKET_HOURS": "false",
                                 "TRADEFLOW_FEED_STALE_SECONDS": "2"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_consumer_metrics_move_as_it_decides_and_health_follows_its_feed(settings, consumer_port):
    port = consumer_port
    with FileBackend(settings.path(), 1 << 20, 0.05) as backend, pulse(backend) as stop_pulse:
        backend.publish(SIGNALS, [Record("AAPL", line()), Record("MSFT", line(symbol="MSFT")),
                                  Record("X", b'{"not": "a signal"}')])
        backend.flush()
        found = eventually(
            lambda: (m := samples(port))
            and value(m, "tradeflow_signals_total", decision="approved", rule="approved") == 2
            and value(m, "tradeflow_records_dead_lettered_total", topic=SIGNALS) == 1 and m,
            "two approvals and a dead letter on /metrics", timeout=60)
        assert value(found, "tradeflow_signals_total", decision="dead_letter", rule="") == 1
        assert value(found, "tradeflow_orders_total", status="new") == 2
        assert value(found, "tradeflow_records_published_total", topic="orders") >= 2
        assert value(found, "tradeflow_records_published_total", topic="dead-letter") == 1
        assert value(found, "tradeflow_signal_age_at_decision_seconds_count") == 2
        # Both bars ended 5 s before the signals were written (conftest.signal).
        assert value(found, "tradeflow_signal_age_at_decision_seconds_sum") >= 10
        # The signals' bars ended 5 s before they were written: their lag is at least that.
        assert value(found, "tradeflow_feed_lag_seconds", topic=SIGNALS) >= 5

        status, body = get(port, "/healthz")
        assert status == 200 and json.loads(body)["checks"] == {"feed": "ok"}

        stop_pulse()  # the feed dies
        status, body = eventually(lambda: (r := get(port, "/healthz"))[0] == 503 and r,
                                  "/healthz unhealthy after the feed stopped", timeout=60)
        assert json.loads(body)["checks"]["feed"].startswith(f"{PRICES}: silent for")
        assert value(samples(port), "tradeflow_feed_idle_seconds", topic=PRICES) > 2

        with pulse(backend):  # and comes back
            eventually(lambda: get(port, "/healthz")[0] == 200, "/healthz healthy again",
                       timeout=60)
    assert get(port, "/nowhere")[0] == 404


def test_a_broker_error_is_counted_by_broker(h, alpaca):
    c = h.consumer(**{"APCA_API_KEY_ID": alpaca.key_id, "APCA_API_SECRET_KEY": alpaca.secret,
                      "APCA_API_BASE_URL": alpaca.url})
    before = REGISTRY.get_sample_value("tradeflow_broker_errors_total", {"broker": "alpaca"}) or 0
    alpaca.fail("POST", "/v2/orders", 403)
    c.handle_raw(line(signal_id="refused"))
    assert REGISTRY.get_sample_value("tradeflow_broker_errors_total", {"broker": "alpaca"}) \
        == before + 1
