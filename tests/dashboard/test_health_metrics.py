"""/healthz (200 while every subscription polls, 503 otherwise) and /metrics (Prometheus text)."""

from __future__ import annotations

import pytest

import asyncio
import time

import aiohttp
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from tradeflow.config import ORDERS, PRICES
from tradeflow.topics import BackendError
from tradeflow.topics.file import FileBackend

from dashboard.cli import dashboard
from dashboard.metrics import DashboardMetrics, RecordRate

from .conftest import publish, serve, wait_until, walk


@pytest.mark.integration
def test_healthz_ok_and_metrics(backend, data_settings) -> None:
    publish(backend, PRICES, walk("AAPL", 20))
    publish(backend, PRICES, [walk("AAPL", 1)[0].model_copy(update={"symbol": "aapl"})])  # junk

    async def main() -> None:
        async with serve(backend, data_settings) as (dash, url), aiohttp.ClientSession() as http:
            async with http.get(url + "/healthz") as r:
                body = await r.json()
                assert r.status == 200 and body["status"] == "ok"
                assert set(body["subscriptions"]) == {"stock-prices", "market-news",
                                                      "trading-signals", "orders"}
                assert all(s["alive"] for s in body["subscriptions"].values())
            async with http.ws_connect(url + "/ws") as ws:
                await ws.receive()
                await wait_until(lambda: any(c.sent for c in dash.hub.clients))
                before = time.time()
                async with http.get(url + "/metrics") as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"].startswith("text/plain")
                    text = await r.text()
                after = time.time()
            families = list(text_string_to_metric_families(text))
            values = {(s.name, tuple(sorted(s.labels.items()))): s.value
                      for fam in families for s in fam.samples}
            assert values[("tradeflow_dashboard_records_total", (("topic", "stock-prices"),))] == 20
            assert values[("tradeflow_dashboard_invalid_records_total",
                           (("topic", "stock-prices"),))] == 1
            assert values[("tradeflow_dashboard_ws_clients", ())] == 1
            assert values[("tradeflow_dashboard_ws_messages_sent_total", ())] >= 1
            assert values[("tradeflow_dashboard_ws_dropped_messages_total", ())] == 0
            assert values[("tradeflow_dashboard_subscription_up", (("topic", "orders"),))] == 1
            for name in ("tradeflow_dashboard_ws_queue_depth",
                         "tradeflow_dashboard_feed_queue_depth",
                         "tradeflow_dashboard_ws_slow_disconnects_total"):
                assert any(k[0] == name for k in values), name
            # Prometheus conventions: counters end in _total, no pre-computed rate.
            counters = [f for f in families if f.type == "counter"]
            assert len(counters) == 5
            for fam in counters:
                assert {s.name for s in fam.samples} <= {fam.name + "_total", fam.name + "_created"}
            assert not any("rate" in k[0] for k in values)
            # Feed lag, in seconds: the scrape's wall time minus the newest bar's end time.
            newest = walk("AAPL", 20)[-1].event_time.timestamp()
            lag = values[("tradeflow_dashboard_feed_lag_seconds", (("topic", "stock-prices"),))]
            assert before - newest - 0.001 <= lag <= after - newest + 0.001
            assert not any(k[0] == "tradeflow_dashboard_feed_lag_seconds"
                           and k[1] == (("topic", "orders"),) for k in values)  # none read yet

    asyncio.run(main())


class _BrokenOrders(FileBackend):
    """A backend whose `orders` subscription fails on every poll (a broker that went away)."""

    def subscribe(self, topic, group, start="earliest"):
        sub = super().subscribe(topic, group, start)
        if topic == ORDERS:
            def poll(max_records=500, timeout=1.0):
                raise BackendError("broker unreachable")
            sub.poll = poll
        return sub


@pytest.mark.integration
def test_healthz_unhealthy_when_a_subscription_fails(data_settings) -> None:
    backend = _BrokenOrders(data_settings.path())

    async def main() -> None:
        from dashboard.server import Dashboard, start_server

        from .conftest import fast_options

        dash = Dashboard(backend, data_settings, fast_options())
        runner, port = await start_server(dash)
        try:
            await wait_until(lambda: dash.feed.health[ORDERS].error is not None)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    body = await r.json()
                    assert r.status == 503 and body["status"] == "unhealthy"
                    assert body["subscriptions"]["orders"]["alive"] is False
                    assert "broker unreachable" in body["subscriptions"]["orders"]["error"]
                    assert body["subscriptions"]["stock-prices"]["alive"] is True
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    assert 'tradeflow_dashboard_subscription_up{topic="orders"} 0.0' in await r.text()
        finally:
            await runner.cleanup()
            backend.close()

    asyncio.run(main())


def test_cli_help_and_bad_window() -> None:
    r = CliRunner().invoke(dashboard, ["--help"])
    assert r.exit_code == 0 and "--port" in r.output and "/healthz" in r.output
    r = CliRunner().invoke(dashboard, ["--windows", "15m,soon"])
    assert r.exit_code == 2 and "bad window" in r.output


def test_page_rate_from_the_records_counter() -> None:
    """The feed pill's records/s comes from the records counter between two status refreshes."""
    now = [100.0]
    metrics = DashboardMetrics()
    rate = RecordRate(metrics, clock=lambda: now[0])
    metrics.count(PRICES, 30, newest_t=1.0)
    metrics.count(ORDERS, 4)
    now[0] += 2.0
    assert rate.sample() == {PRICES: 15.0, ORDERS: 2.0}
    metrics.count(PRICES, 10, newest_t=0.5)  # an older record: the lag keeps the newest time
    now[0] += 5.0
    assert rate.sample() == {PRICES: 2.0, ORDERS: 0.0}
    assert metrics.records_read() == {PRICES: 40.0, ORDERS: 4.0}
    before = time.time()
    text = metrics.render().decode()
    after = time.time()
    lag = {s.labels["topic"]: s.value for fam in text_string_to_metric_families(text)
           for s in fam.samples if s.name == "tradeflow_dashboard_feed_lag_seconds"}
    assert set(lag) == {PRICES}  # orders came without an event time here
    assert before - 1.0 - 0.001 <= lag[PRICES] <= after - 1.0 + 0.001
