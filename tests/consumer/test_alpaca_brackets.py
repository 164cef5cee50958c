"""Bracket orders on the Alpaca executor, against the trading stub: what is posted, how the exit
legs come back (`nested=true`), a leg filled at the broker, cancelling the legs that still work,
and malformed legs as broker errors that quote no secret; then the same through the engine."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from tests.consumer.conftest import KEY_ID, SECRET, line
from tools.stubs.alpaca_trading import AlpacaTradingStub
from tradeflow.contracts import OrderSide, OrderStatus
from tradeflow.trading.audit import query
from tradeflow.trading.executors.alpaca import AlpacaExecutor, to_broker_order
from tradeflow.trading.executors.base import (BrokerRejected, BrokerUnavailable, ExitLeg,
                                              OrderRequest, client_order_id)

ATTEMPTS = 3


@pytest.fixture
def stub() -> Iterator[AlpacaTradingStub]:
    with AlpacaTradingStub(key_id=KEY_ID, secret=SECRET, prices={"AAPL": 101.0}) as s:
        yield s


@pytest.fixture
def ex(stub: AlpacaTradingStub) -> Iterator[AlpacaExecutor]:
    e = AlpacaExecutor(KEY_ID, SECRET, stub.url, timeout=0.5, attempts=ATTEMPTS, backoff=0.001,
                       sleep=lambda _s: None)
    yield e
    e.close()


def bracket(signal_id: str = "b1", qty: float = 10, stop: float | None = 97.456,
            target: float | None = 108.0) -> OrderRequest:
    return OrderRequest(client_order_id(signal_id), signal_id, "AAPL", OrderSide.buy, qty, 101.0,
                        order_type="bracket", stop_loss=stop, take_profit=target)


def entered(ex: AlpacaExecutor, signal_id: str = "b1") -> str:
    """A bracket order whose entry has filled (the stub fills on the first status poll)."""
    oid = ex.submit(bracket(signal_id)).broker_order_id
    assert ex.status(oid).status is OrderStatus.filled
    return oid


def test_bracket_post_is_gtc_with_prices_in_cents(ex, stub):
    assert ex.fractional_brackets is False
    placed = ex.submit(bracket(stop=97.456, target=108.0))
    ex.submit(bracket("penny", stop=0.512345, target=0.75))
    body, penny = (r.body for r in stub.calls("POST", "/v2/orders"))
    assert body["order_class"] == "bracket" and body["type"] == "market"
    assert body["time_in_force"] == "gtc" and body["qty"] == "10"
    assert body["stop_loss"] == {"stop_price": "97.46"}
    assert body["take_profit"] == {"limit_price": "108.00"}
    assert penny["stop_loss"] == {"stop_price": "0.5123"}  # 4 decimals below $1
    assert penny["take_profit"] == {"limit_price": "0.7500"}
    # The POST's answer already carries the legs, held until the entry fills.
    assert {leg.reason for leg in placed.legs} == {"take_profit", "stop_loss"}
    assert all(leg.status is OrderStatus.accepted for leg in placed.legs)


def test_bracket_without_a_price_is_rejected_before_sending(ex, stub):
    with pytest.raises(BrokerRejected, match="stop_loss is None"):
        ex.submit(bracket(stop=None))
    assert not stub.calls("POST")


def test_fractional_bracket_is_refused_like_alpaca_does(ex, stub):
    with pytest.raises(BrokerRejected, match="fractional"):
        ex.submit(bracket(qty=2.5))


def test_legs_parsed_from_a_nested_answer():
    order = to_broker_order({
        "id": "p1", "status": "filled", "filled_qty": "10", "filled_avg_price": "101.02",
        "filled_at": "2024-03-05T15:00:01.123456789Z", "order_class": "bracket",
        "legs": [
            {"id": "tp", "type": "limit", "status": "filled", "filled_qty": "10",
             "filled_avg_price": "108", "filled_at": "2024-03-05T16:30:00Z"},
            {"id": "sl", "type": "stop_limit", "status": "canceled", "filled_qty": "0",
             "filled_avg_price": None, "filled_at": None}]})
    assert order.filled_at == datetime(2024, 3, 5, 15, 0, 1, 123456, tzinfo=timezone.utc)
    assert order.legs == (
        ExitLeg("take_profit", "tp", OrderStatus.filled, 10, 108.0,
                datetime(2024, 3, 5, 16, 30, tzinfo=timezone.utc)),
        ExitLeg("stop_loss", "sl", OrderStatus.canceled, 0, None, None))
    simple = to_broker_order({"id": "s", "status": "new", "legs": None, "filled_at": None})
    assert simple.legs == () and simple.filled_at is None


def test_reads_ask_for_nested_legs(ex, stub):
    oid = entered(ex)
    ex.lookup(client_order_id("b1"))
    assert stub.calls("GET", f"/v2/orders/{oid}")[0].params["nested"] == "true"
    assert stub.calls("GET", "/v2/orders:by_client_order_id")[0].params["nested"] == "true"
    legs = {leg.reason: leg for leg in ex.status(oid).legs}
    assert legs["take_profit"].broker_order_id == stub.legs(oid)["take_profit"]["id"]
    assert legs["stop_loss"].status is OrderStatus.accepted  # `held` while the target works


def test_leg_filled_at_the_broker_shows_in_status(ex, stub):
    oid = entered(ex)
    assert stub.book.positions["AAPL"]["qty"] == 10
    stub.fill_leg(oid, "stop_loss", 97.4)
    order = ex.status(oid)
    assert order.status is OrderStatus.filled and order.filled_at is not None
    legs = {leg.reason: leg for leg in order.legs}
    stop = legs["stop_loss"]
    assert (stop.status, stop.filled_qty, stop.filled_avg_price) == (OrderStatus.filled, 10, 97.4)
    assert stop.filled_at is not None and stop.filled_at >= order.filled_at
    assert legs["take_profit"].status is OrderStatus.canceled
    assert ex.account().positions == {}  # flattened by the stop


def test_cancel_legs_cancels_the_working_legs(ex, stub):
    oid = entered(ex)
    ex.cancel_legs(oid)
    deletes = stub.calls("DELETE")
    assert sorted(r.path for r in deletes) == sorted(
        f"/v2/orders/{leg['id']}" for leg in stub.legs(oid).values())
    assert all(r.status == 204 for r in deletes)
    assert all(leg.status is OrderStatus.canceled for leg in ex.status(oid).legs)
    ex.cancel_legs(oid)  # nothing works any more: nothing to delete
    assert len(stub.calls("DELETE")) == 2


def test_cancel_legs_tolerates_a_leg_filled_meanwhile(ex, stub):
    oid = entered(ex)
    read = ex.status

    def read_then_the_target_fills(broker_order_id: str):
        order = read(broker_order_id)
        stub.fill_leg(oid, "take_profit", 108.0)  # between our read and our DELETEs
        return order

    ex.status = read_then_the_target_fills
    ex.cancel_legs(oid)
    assert [r.status for r in stub.calls("DELETE")] == [422, 422]
    assert stub.legs(oid)["take_profit"]["status"] == "filled"


def test_cancel_legs_404_is_fine_5xx_retried_then_unavailable(ex, stub):
    oid = entered(ex)
    tp, sl = (stub.legs(oid)[r]["id"] for r in ("take_profit", "stop_loss"))
    stub.fail("DELETE", f"/v2/orders/{tp}", 404)
    stub.fail("DELETE", f"/v2/orders/{sl}", 503, retry_after="0")
    ex.cancel_legs(oid)
    assert [(r.path, r.status) for r in stub.calls("DELETE")] == [
        (f"/v2/orders/{tp}", 404), (f"/v2/orders/{sl}", 503), (f"/v2/orders/{sl}", 204)]

    other = entered(ex, "b2")
    stub.fail("DELETE", "/v2/orders/", 500, times=ATTEMPTS)
    with pytest.raises(BrokerUnavailable, match="DELETE /v2/orders/{id}: HTTP 500"):
        ex.cancel_legs(other)
    stub.fail("DELETE", "/v2/orders/", 403)
    with pytest.raises(BrokerRejected):
        ex.cancel_legs(other)


@pytest.mark.parametrize("leg", [
    {"id": "x", "type": "trailing_stop", "status": "new"},
    {"id": "x", "type": "limit", "status": "new", "filled_qty": "ten"},
    {"id": "x", "type": "stop", "status": "filled", "filled_qty": "1", "filled_at": "yesterday"},
    {"type": "limit", "status": "new"},
    "a leg",
], ids=["type", "qty", "time", "no-id", "not-an-object"])
def test_malformed_leg_is_broker_unavailable(ex, stub, leg):
    oid = entered(ex)
    stub.fail("GET", f"/v2/orders/{oid}", 200, times=ATTEMPTS,
              body={"id": oid, "status": "filled", "filled_qty": "10", "legs": [leg]})
    with pytest.raises(BrokerUnavailable, match="malformed answer"):
        ex.status(oid)
    stub.fail("GET", f"/v2/orders/{oid}", 200, times=ATTEMPTS,
              body={"id": oid, "status": "filled", "legs": {"not": "a list"}})
    with pytest.raises(BrokerUnavailable, match="malformed answer"):
        ex.cancel_legs(oid)
    assert not stub.calls("DELETE")


def test_malformed_legs_in_the_post_answer_mean_look_it_up(ex, stub):
    stub.fail("POST", "/v2/orders", 200, process=True,
              body={"id": "p", "status": "accepted", "legs": [{"id": "x", "type": "oops"}]})
    placed = ex.submit(bracket("odd"))
    assert len(stub.calls("POST")) == 1 and len(stub.orders) == 1
    assert placed.broker_order_id == stub.orders[0]["id"] and len(placed.legs) == 2


def test_leg_errors_quoting_the_secret_leak_nothing(ex, stub, caplog, monkeypatch):
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)  # the executor masks what it was given
    stub.echo_credentials = True
    oid = entered(ex)
    errors = []
    with caplog.at_level(logging.DEBUG):
        stub.fail("DELETE", "/v2/orders/", 502, times=ATTEMPTS)
        stub.fail("DELETE", "/v2/orders/", 403)
        stub.fail("GET", f"/v2/orders/{oid}", 200, times=ATTEMPTS,
                  body={"id": oid, "status": "filled", "legs": [{"id": "x", "type": SECRET}]})
        for _ in range(3):
            with pytest.raises((BrokerUnavailable, BrokerRejected)) as err:
                ex.cancel_legs(oid)
            errors.append(str(err.value))
    assert sum(SECRET in json.dumps(r.response) for r in stub.requests) >= 3, "stub echoed"
    text = "\n".join(errors) + caplog.text
    assert "***" in text and KEY_ID not in text and SECRET not in text


# --- through the engine -------------------------------------------------------------------------
def bracket_trade(h, alpaca) -> tuple:
    h.alpaca(alpaca)
    c = h.consumer(TRADEFLOW_BRACKET_ORDERS="true")
    assert c.handle_raw(line(signal_id="entry", price=101.0, stop_loss=97.5,
                             take_profit=108.0)) == "approved"
    parent = alpaca.orders[0]
    assert parent["status"] == "filled" and parent["order_class"] == "bracket"
    return c, parent["id"]


def test_engine_publishes_the_stop_filled_at_alpaca(h, alpaca):
    c, parent = bracket_trade(h, alpaca)
    alpaca.fill_leg(parent, "stop_loss", 97.4)
    c.refresh_orders(force=True)
    exits = [o for o in h.orders() if o.exit_reason == "stop_loss"]
    assert len(exits) == 1 and exits[0].filled_avg_price == 97.4
    assert exits[0].broker_order_id == alpaca.legs(parent)["stop_loss"]["id"]
    closed = query(c.store, kind="trade_closed")
    assert [e["rule"] for e in closed] == ["stop_loss"]


def test_engine_cancels_the_legs_before_an_opposite_signal_closes(h, alpaca):
    c, parent = bracket_trade(h, alpaca)
    assert c.handle_raw(line(signal_id="exit", action="SELL", price=101.0)) == "approved"
    assert sorted(r.status for r in alpaca.calls("DELETE")) == [204, 204]
    assert {leg["status"] for leg in alpaca.legs(parent).values()} == {"canceled"}
    sell = alpaca.calls("POST", "/v2/orders")[-1].body
    assert sell["side"] == "sell" and sell["qty"] == "19" and "order_class" not in sell
    assert "AAPL" not in alpaca.book.positions
