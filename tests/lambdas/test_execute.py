"""The signal-executor Lambda against moto, the Alpaca trading stub and the Slack stub: orders,
idempotency (the same signal twice -> one order), batch item failures, malformed events, the
DynamoDB store's conditional writes and the kill switch."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas import execute_signals
from lambdas import runtime as aws_runtime
from lambdas.dynamo_store import DynamoKillSwitch, DynamoStore
from tests.lambdas.conftest import KEY_ID, SECRET, SLACK_TOKEN
from tradeflow.contracts import Order, build
from tradeflow.trading.engine import AlreadyDecided
from tradeflow.trading.executors.base import client_order_id
from tradeflow.trading.store import Store


def signal(**over: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    rec: dict[str, Any] = {
        "v": 1, "signal_id": f"sig-{uuid.uuid4().hex[:12]}", "symbol": "AAPL", "action": "BUY",
        "strength": "STRONG", "confidence": 0.8, "price": 100.0,
        "bar_time": (now - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "emitted_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "indicators": {"rsi_14": 27.5},
        "sentiment": 0.4, "reason": "RSI oversold", "strategy": "confluence",
        "strategy_version": "1"}
    rec.update(over)
    return rec


def put(aws, *payloads: bytes | dict) -> None:
    kinesis = aws.client("kinesis")
    for p in payloads:
        data = p if isinstance(p, bytes) else json.dumps(p).encode()
        kinesis.put_record(StreamName="trading-signals", Data=data, PartitionKey="AAPL")


def store(aws) -> DynamoStore:
    return DynamoStore(aws.client("dynamodb"), "tradeflow-state", "tradeflow-audit")


def test_same_signal_twice_makes_one_order(aws, trading, slack):
    sig = signal()
    put(aws, sig, sig)  # a duplicate on the stream
    event = aws.event()
    assert execute_signals.handler(event, None) == {"batchItemFailures": []}
    assert execute_signals.handler(event, None) == {"batchItemFailures": []}  # redelivery
    aws_runtime.reset()  # and once more after a cold start
    assert execute_signals.handler(event, None) == {"batchItemFailures": []}

    assert len(trading.orders) == 1
    assert trading.orders[0]["client_order_id"] == client_order_id(sig["signal_id"])
    statuses = [o["value"]["status"] for o in aws.records("orders")]
    assert statuses == ["new", "filled"]
    s = store(aws)
    assert s.is_processed(sig["signal_id"])
    stored = s.order(client_order_id(sig["signal_id"]))
    assert stored is not None and stored.phase == "final" and stored.order.status.value == "filled"
    kinds = [e["kind"] for e in s.events()]
    assert kinds.count("decision") == 1 and kinds.count("duplicate") == 5
    # Slack: the decision and the fill, once; the token came from Secrets Manager.
    assert len(slack.messages) == 2
    everything = json.dumps(s.events()) + json.dumps([r.body for r in slack.requests])
    assert SECRET not in everything and KEY_ID not in everything
    assert SLACK_TOKEN not in json.dumps(s.events())


def test_infra_failure_reports_that_record_and_later_ones(aws, trading):
    sigs = [signal(symbol=sym) for sym in ("AAPL", "MSFT", "GOOG")]
    trading.prices["GOOG"] = 150.0
    put(aws, *sigs)
    event = aws.event()
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    engine = aws_runtime.runtime().engine()
    real = engine.store.client.transact_write_items
    calls = {"n": 0}

    def second_fails(**kw):  # the decision of the second signal cannot be written, once
        if f"processed#{sigs[1]['signal_id']}" in json.dumps(kw) and not calls["n"]:
            calls["n"] += 1
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}},
                              "TransactWriteItems")
        return real(**kw)

    engine.store.client.transact_write_items = second_fails
    response = execute_signals.handler(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in seqs[1:]]}
    assert [o["symbol"] for o in trading.orders] == ["AAPL"]
    # Lambda retries from the first failed record: no second AAPL order, the rest go through.
    retry = {"Records": event["Records"][1:]}
    assert execute_signals.handler(retry, None) == {"batchItemFailures": []}
    assert sorted(o["symbol"] for o in trading.orders) == ["AAPL", "GOOG", "MSFT"]


def test_malformed_events_are_reported_not_crashed(aws, trading, caplog):
    good = signal()
    put(aws, b"{not json", signal(price=-1), good)
    event = aws.event()
    broken = [
        {"kinesis": {"sequenceNumber": "1", "data": "%%% not base64 %%%"}},
        {"kinesis": {"sequenceNumber": "2"}},
        {"eventSource": "aws:kinesis"},
        "not even an object",
    ]
    event["Records"] = broken + event["Records"]
    assert execute_signals.handler(event, None) == {"batchItemFailures": []}
    assert len(trading.orders) == 1
    reasons = [d["value"]["reason"] for d in aws.records("dead-letter")]
    assert len(reasons) == 6
    assert sum("malformed Kinesis record" in r for r in reasons) == 4
    assert any(r.startswith("bad JSON") for r in reasons)
    assert any(r.startswith("price: must be positive") for r in reasons)
    # Not a Kinesis event at all: logged with the reason, nothing to retry.
    assert execute_signals.handler({"detail-type": "Scheduled Event"}, None) == \
        {"batchItemFailures": []}
    assert "not a Kinesis event" in caplog.text


def test_dynamo_store_conditional_writes(aws):
    s = store(aws)
    at = datetime.now(timezone.utc)
    s.mark_processed("sig-1", at, True, "approved", "tf-1")
    with pytest.raises(AlreadyDecided):
        s.mark_processed("sig-1", at, True, "approved", "tf-1")
    # A transaction whose processed record loses the race writes nothing at all.
    order = build(Order, client_order_id="tf-2", signal_id="sig-1", symbol="AAPL", side="buy",
                  qty=1, status="new", broker="alpaca", submitted_at=at, updated_at=at)
    with pytest.raises(AlreadyDecided):
        with s.transaction():
            s.insert_order(order, 100.0, at, at)
            s.mark_processed("sig-1", at, True, "approved", "tf-2")
    assert s.order("tf-2") is None and store(aws).unfinished_orders() == []


def test_concurrent_worker_duplicate_is_not_an_error(aws, trading):
    sig = signal()
    put(aws, sig)
    engine = aws_runtime.runtime().engine()
    # Another worker decides the signal between our check and our commit.
    real = engine.store.is_processed
    engine.store.is_processed = lambda sid: (store(aws).mark_processed(
        sid, datetime.now(timezone.utc), False, "other", None), False)[1] \
        if not real(sid) else True
    assert execute_signals.handler(aws.event(), None) == {"batchItemFailures": []}
    assert trading.orders == [] and engine.stats["duplicate"] == 1


def test_store_interface_matches_sqlite_store():
    public = {n for n in dir(Store) if not n.startswith("_")}
    missing = public - {n for n in dir(DynamoStore) if not n.startswith("_")}
    assert missing == {"execute"}  # raw SQL: only the SQLite audit trail uses it


def test_kill_switch_item_vetoes_orders(aws, trading):
    DynamoKillSwitch(store(aws)).engage("test halt", by="pytest")
    put(aws, signal())
    assert execute_signals.handler(aws.event(), None) == {"batchItemFailures": []}
    assert trading.orders == []
    decision = [e for e in store(aws).events() if e["kind"] == "decision"][0]
    assert decision["rule"] == "kill_switch"
