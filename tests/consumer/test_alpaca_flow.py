"""The normal flow on the Alpaca stub: signal -> risk ok -> order -> filled -> `orders` -> Slack."""

from __future__ import annotations

from tradeflow.trading.audit import query
from tests.consumer.conftest import client_order_id, line, signal, statuses
from tradeflow.contracts import OrderStatus


def test_signal_becomes_filled_order_published_and_notified(h, alpaca, slack):
    h.alpaca(alpaca)
    h.slack(slack)
    c = h.consumer()
    assert c.executor.name == "alpaca" and c.clock.mode == "wall"
    sig = signal(signal_id="sig-normal-1", price=101.0)
    h.publish_signals([line(**sig)])

    stats = c.run(once=True, poll_timeout=0.2)

    assert stats["approved"] == 1
    coid = client_order_id("sig-normal-1")
    posts = alpaca.calls("POST", "/v2/orders")
    assert len(posts) == 1
    body = posts[0].body
    assert body["client_order_id"] == coid and body["side"] == "buy" and body["type"] == "market"
    assert body["qty"] == "19"  # 2% of 100k equity at 101 -> 19 whole shares
    assert alpaca.calls("GET", "/v2/clock"), "market hours come from Alpaca's clock"

    orders = h.orders()
    assert statuses(orders, coid) == ["new", "accepted", "filled"]
    filled = orders[-1]
    assert filled.broker == "alpaca" and filled.filled_qty == 19 and filled.filled_avg_price == 101
    assert filled.broker_order_id == alpaca.orders[0]["id"]

    texts = [m["text"] for m in slack.messages]
    assert any("BUY AAPL: buy 19" in t for t in texts)
    assert any("order filled" in t for t in texts)
    assert all(m["blocks"] and m["channel"] == "#trading" for m in slack.messages)

    kinds = [e["kind"] for e in query(c.store, signal_id="sig-normal-1")]
    for kind in ("signal", "decision", "order_request", "broker_response", "fill"):
        assert kind in kinds
    assert c.store.order(coid).order.status is OrderStatus.filled


def test_sell_signal_closes_the_long_position_whole(h, alpaca):
    alpaca.set_position("AAPL", 7, 90.0)
    h.alpaca(alpaca)
    c = h.consumer(TRADEFLOW_RISK_MAX_ORDER_VALUE="1")  # exits are not held back by entry limits
    assert c.handle_raw(line(action="SELL", price=101.0)) == "approved"
    post = alpaca.calls("POST", "/v2/orders")[0].body
    assert post["side"] == "sell" and post["qty"] == "7"
    assert "AAPL" not in alpaca.book.positions


def test_bracket_order_from_stop_and_target(h, alpaca):
    h.alpaca(alpaca)
    c = h.consumer(TRADEFLOW_BRACKET_ORDERS="true")
    c.handle_raw(line(price=101.0, stop_loss=97.5, take_profit=108.0))
    body = alpaca.calls("POST", "/v2/orders")[0].body
    assert body["order_class"] == "bracket" and body["time_in_force"] == "gtc"
    assert body["stop_loss"] == {"stop_price": "97.50"}  # whole cents, as Alpaca requires
    assert body["take_profit"] == {"limit_price": "108.00"}
    assert h.orders()[0].order_type == "bracket"


def test_order_not_filled_in_time_is_followed_by_the_loop(h, alpaca):
    alpaca.fill_after = 5
    h.alpaca(alpaca)
    c = h.consumer(TRADEFLOW_ORDER_WAIT_SECONDS="0")
    c.handle_raw(line(signal_id="slow-fill"))
    coid = client_order_id("slow-fill")
    assert c.store.order(coid).phase == "open"
    for _ in range(10):
        c.refresh_orders(force=True)
    assert c.store.order(coid).order.status is OrderStatus.filled
    assert statuses(h.orders(), coid) == ["new", "accepted", "filled"]


def test_signal_clock_is_refused_on_alpaca(h, alpaca):
    import pytest

    from consumer.service import ConfigError

    h.alpaca(alpaca)
    with pytest.raises(ConfigError, match="wall clock"):
        h.consumer(TRADEFLOW_RISK_CLOCK="signal")
