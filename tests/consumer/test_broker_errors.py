"""Broker failures: retried where safe, never double-submitted, always reported."""

from __future__ import annotations

from tradeflow.trading.audit import query
from tests.consumer.conftest import client_order_id, line, statuses
from tradeflow.contracts import OrderStatus


def setup(h, alpaca, slack=None, **env):
    h.alpaca(alpaca)
    if slack is not None:
        h.slack(slack)
    return h.consumer(**env)


def test_429_is_retried_after_retry_after(h, alpaca):
    c = setup(h, alpaca)
    alpaca.fail("POST", "/v2/orders", 429, retry_after="2")
    assert c.handle_raw(line(signal_id="rl")) == "approved"
    assert [r.status for r in alpaca.calls("POST", "/v2/orders")] == [429, 200]
    assert 2.0 in h.sleeps  # Retry-After honoured (the injected sleep records it)
    assert len(alpaca.orders) == 1
    assert c.store.order(client_order_id("rl")).order.status is OrderStatus.filled


def test_5xx_not_processed_is_looked_up_then_resent_once(h, alpaca):
    c = setup(h, alpaca)
    alpaca.fail("POST", "/v2/orders", 503)
    c.handle_raw(line(signal_id="s503"))
    calls = [(r.method, r.path, r.status) for r in alpaca.calls(prefix="/v2/orders")]
    assert calls[:3] == [("POST", "/v2/orders", 503),
                         ("GET", "/v2/orders:by_client_order_id", 404),
                         ("POST", "/v2/orders", 200)]
    assert len(alpaca.orders) == 1


def test_5xx_after_the_order_was_made_is_not_resent(h, alpaca):
    c = setup(h, alpaca)
    alpaca.fail("POST", "/v2/orders", 500, process=True)  # created, but the answer is a 500
    c.handle_raw(line(signal_id="s500"))
    assert len(alpaca.calls("POST", "/v2/orders")) == 1
    assert len(alpaca.orders) == 1
    assert c.store.order(client_order_id("s500")).order.status is OrderStatus.filled


def test_timeout_after_which_the_order_exists_is_not_resubmitted(h, alpaca):
    c = setup(h, alpaca, TRADEFLOW_BROKER_TIMEOUT_SECONDS="0.2")
    alpaca.fail("POST", "/v2/orders", delay=0.6, process=True)
    assert c.handle_raw(line(signal_id="slow")) == "approved"
    assert len(alpaca.calls("POST", "/v2/orders")) == 1, "must not resubmit after a timeout"
    lookups = alpaca.calls("GET", "/v2/orders:by_client_order_id")
    assert lookups and lookups[0].params["client_order_id"] == client_order_id("slow")
    assert len(alpaca.orders) == 1
    assert statuses(h.orders(), client_order_id("slow"))[-1] == "filled"
    errors = query(c.store, kind="broker_response", signal_id="slow")
    assert errors, "the adopted order is audited"


def test_dropped_connection_on_submit_is_reconciled_not_duplicated(h, alpaca):
    c = setup(h, alpaca)
    alpaca.fail("POST", "/v2/orders", drop=True, process=True)
    c.handle_raw(line(signal_id="drop"))
    assert len(alpaca.calls("POST", "/v2/orders")) == 1 and len(alpaca.orders) == 1


def test_duplicate_client_order_id_422_means_already_submitted(h, alpaca):
    c = setup(h, alpaca)
    # A previous run placed it, but this run's audit database knows nothing of it.
    alpaca._create({"symbol": "AAPL", "qty": "19", "side": "buy", "type": "market",
                    "time_in_force": "day", "client_order_id": client_order_id("dup")})
    assert c.handle_raw(line(signal_id="dup")) == "approved"
    assert [r.status for r in alpaca.calls("POST", "/v2/orders")] == [422]
    assert len(alpaca.orders) == 1
    assert c.store.order(client_order_id("dup")).order.status is OrderStatus.filled


def test_4xx_is_a_rejection_not_retried_and_notified(h, alpaca, slack):
    c = setup(h, alpaca, slack)
    alpaca.fail("POST", "/v2/orders", 403, body={"code": 40310000,
                                                 "message": "insufficient buying power"})
    assert c.handle_raw(line(signal_id="poor")) == "approved"
    assert len(alpaca.calls("POST", "/v2/orders")) == 1
    order = c.store.order(client_order_id("poor")).order
    assert order.status is OrderStatus.rejected and "insufficient buying power" in order.detail
    assert statuses(h.orders(), client_order_id("poor")) == ["new", "rejected"]
    assert any("order rejected" in m["text"] for m in slack.messages)
    assert query(c.store, kind="broker_error", signal_id="poor")


def test_broker_failing_throughout_leaves_an_unknown_order_reconciled_later(h, alpaca, slack):
    c = setup(h, alpaca, slack, TRADEFLOW_BROKER_RETRIES="3")
    alpaca.fail("POST", "/v2/orders", 502, times=3)
    c.handle_raw(line(signal_id="flaky"))
    coid = client_order_id("flaky")
    stored = c.store.order(coid)
    assert stored.phase == "pending" and "outcome unknown" in stored.order.detail
    assert not alpaca.orders
    assert any("order new" in m["text"] for m in slack.messages), "the failure is notified"
    c.refresh_orders(force=True)  # the broker is back: looked up (absent), then sent once
    assert len(alpaca.orders) == 1
    c.refresh_orders(force=True)
    assert c.store.order(coid).order.status is OrderStatus.filled
    assert len(alpaca.orders) == 1


def test_broker_refusing_connections_fails_the_order_and_reports_it(h, alpaca, slack):
    c = setup(h, alpaca, slack)
    real_submit = c.executor.submit

    def down_then_submit(req, maybe_sent=False, **kw):
        alpaca.down()  # account and clock were read; the broker dies before the order
        return real_submit(req, maybe_sent, **kw)

    c.executor.submit = down_then_submit
    c.handle_raw(line(signal_id="down"))
    order = c.store.order(client_order_id("down")).order
    assert order.status is OrderStatus.failed and "refused" in order.detail
    assert statuses(h.orders(), client_order_id("down")) == ["new", "failed"]
    assert any("order failed" in m["text"] for m in slack.messages)


def test_status_polls_survive_a_5xx(h, alpaca):
    c = setup(h, alpaca)
    alpaca.fail("GET", "/v2/orders/", 500)
    c.handle_raw(line(signal_id="poll"))
    assert c.store.order(client_order_id("poll")).order.status is OrderStatus.filled


def test_a_monstrous_broker_error_is_cut_short_and_the_order_record_still_travels(h, alpaca):
    c = setup(h, alpaca)
    alpaca.fail("POST", "/v2/orders", 403, body={"code": 40310000, "message": "no! " * 500_000})
    assert c.handle_raw(line(signal_id="huge")) == "approved"
    order = c.store.order(client_order_id("huge")).order
    assert order.status is OrderStatus.rejected and len(order.detail) < 300
    # Readers parse what was published: the record is within every limit, not dead-lettered.
    assert statuses(h.orders(), client_order_id("huge")) == ["new", "rejected"]
