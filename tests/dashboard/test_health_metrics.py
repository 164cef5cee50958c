"""/healthz (200 while every subscription polls, 503 otherwise) and /metrics (Prometheus text)."""

from __future__ import annotations

import asyncio

import aiohttp
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from tradeflow.config import ORDERS, PRICES
from tradeflow.topics import BackendError
from tradeflow.topics.file import FileBackend

from dashboard.cli import dashboard

from .conftest import publish, serve, wait_until, walk


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
                async with http.get(url + "/metrics") as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"].startswith("text/plain")
                    text = await r.text()
            values = {(s.name, tuple(sorted(s.labels.items()))): s.value
                      for fam in text_string_to_metric_families(text) for s in fam.samples}
            assert values[("tradeflow_dashboard_records_total", (("topic", "stock-prices"),))] == 20
            assert values[("tradeflow_dashboard_invalid_records_total",
                           (("topic", "stock-prices"),))] == 1
            assert values[("tradeflow_dashboard_ws_clients", ())] == 1
            assert values[("tradeflow_dashboard_ws_messages_sent_total", ())] >= 1
            assert values[("tradeflow_dashboard_ws_dropped_messages_total", ())] == 0
            assert values[("tradeflow_dashboard_subscription_up", (("topic", "orders"),))] == 1
            for name in ("tradeflow_dashboard_topic_rate", "tradeflow_dashboard_ws_queue_depth",
                         "tradeflow_dashboard_feed_queue_depth",
                         "tradeflow_dashboard_ws_slow_disconnects_total"):
                assert any(k[0] == name for k in values), name

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
