"""The signal executor's state in DynamoDB: the same interface as the SQLite `Store`, for Lambda.

A Lambda has no disk that outlives it, and several may run at once (one per shard), so the state
the risk manager and the engine keep (processed signal ids, orders and their phase, small facts
such as the day's starting equity or the daily-loss halt, the signal clock) lives in one
DynamoDB table, and the audit trail in another:

  state table, hash key `pk` (string):
    processed#<signal_id>   decided_at, approved, rule, client_order_id, expires_at (TTL)
    order#<client_order_id> signal_id, symbol, phase, price, decided_clock, decided_wall, record;
                            `unfinished` = "1" while not final (sparse GSI `unfinished`),
                            `order_symbol` + `decided_clock` (GSI `by_symbol`, cooldowns)
    kv#<key>                value
    kill_switch             reason, since, by: present = engaged
  audit table, hash key `event_id` (time-ordered), with kind, ids, detail and an optional TTL.

`transaction()` buffers every write made inside it and commits them with one
TransactWriteItems, so a signal's audit events, its order and the record that it was processed
exist together or not at all. "Processed" and "order" items are written with
`attribute_not_exists(pk)`: when two workers race on one signal, exactly one commit succeeds
and the other raises `AlreadyDecided` (the engine then treats its signal as a duplicate).

GSIs are eventually consistent. Orders this process wrote are kept in a small local cache and
merged into GSI answers, so a worker always sees its own orders at once; another worker's order
becomes visible within the GSI's propagation delay (typically well under a second).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from tradeflow.contracts import Order, OrderStatus, parse, to_wire_time
from tradeflow.logs import mask, register_secrets

from tradeflow.trading.audit import KINDS, Detail, detail_json
from tradeflow.trading.engine import AlreadyDecided
from tradeflow.trading.killswitch import KillState
from tradeflow.trading.store import FINAL, PENDING, StoredOrder

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit for one TransactWriteItems
UNFINISHED_INDEX = "unfinished"
BY_SYMBOL_INDEX = "by_symbol"
KILL_KEY = "kill_switch"


class DynamoStoreError(RuntimeError):
    """The state table could not be read or written (the record is retried)."""


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


class DynamoStore:
    durable = True
    """Drop-in for `tradeflow.trading.store.Store` on DynamoDB (see the module docstring)."""

    def __init__(self, client: Any, state_table: str, audit_table: str, *,
                 processed_ttl_days: float = 30.0, audit_ttl_days: float = 0.0) -> None:
        self.client = client
        self.table = state_table
        self.audit_table = audit_table
        self.path = f"dynamodb://{state_table}"  # what logs show where SQLite shows a file
        self.processed_ttl = processed_ttl_days * 86_400
        self.audit_ttl = audit_ttl_days * 86_400
        self._txn: list[dict[str, Any]] | None = None
        self._depth = 0
        self._mine: dict[str, StoredOrder] = {}  # orders this process wrote (see docstring)

    def close(self) -> None:
        """Nothing to release: the boto3 client belongs to the caller."""

    # --- plumbing ---------------------------------------------------------------------------
    def _call(self, what: str, fn: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return fn(**kwargs)
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                raise AlreadyDecided(f"{what}: {kwargs.get('Item', {}).get('pk', {}).get('S')}") \
                    from None
            raise DynamoStoreError(f"dynamodb {what} on {kwargs.get('TableName', self.table)} "
                                   f"failed: {e}") from e

    def _write(self, op: str, body: dict[str, Any]) -> None:
        """One write: buffered inside a transaction, else sent at once."""
        if self._txn is not None:
            self._txn.append({op: body})
            return
        fn = {"Put": self.client.put_item, "Update": self.client.update_item,
              "Delete": self.client.delete_item}[op]
        self._call(op, fn, **body)

    @contextmanager
    def transaction(self) -> Iterator["DynamoStore"]:
        """All writes inside commit together (TransactWriteItems) or not at all."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._txn, self._depth = [], 1
        try:
            yield self
            items, self._txn = self._txn, None
            self._commit(items)
        finally:
            self._txn, self._depth = None, 0

    def _commit(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        if len(items) > MAX_TRANSACTION_ITEMS:
            raise DynamoStoreError(f"{len(items)} writes in one transaction (limit "
                                   f"{MAX_TRANSACTION_ITEMS})")
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as e:
            reasons = e.response.get("CancellationReasons") or []
            if _code(e) == "TransactionCanceledException" and any(
                    r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                raise AlreadyDecided("a conditional write of the transaction failed") from None
            raise DynamoStoreError(f"dynamodb TransactWriteItems failed: {e}") from e
        for item in items:  # only now are they durable: remember our own orders
            body = item.get("Put") or {}
            pk = body.get("Item", {}).get("pk", {}).get("S", "")
            if pk.startswith("order#"):
                self._mine[pk] = self._row(body["Item"])

    def _get(self, pk: str) -> dict[str, Any] | None:
        resp = self._call("GetItem", self.client.get_item, TableName=self.table,
                          Key={"pk": _s(pk)}, ConsistentRead=True)
        return resp.get("Item")

    # --- processed signals ------------------------------------------------------------------
    def is_processed(self, signal_id: str) -> bool:
        return self._get(f"processed#{signal_id}") is not None

    def mark_processed(self, signal_id: str, at: datetime, approved: bool, rule: str,
                       client_order_id: str | None) -> None:
        item = {"pk": _s(f"processed#{signal_id}"), "decided_at": _s(to_wire_time(at)),
                "approved": {"BOOL": approved}, "rule": _s(rule)}
        if client_order_id:
            item["client_order_id"] = _s(client_order_id)
        if self.processed_ttl:
            # Kept far longer than the stream's retention, so a redelivery is always recognised.
            item["expires_at"] = _n(int(time.time() + self.processed_ttl))
        self._write("Put", {"TableName": self.table, "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)"})

    # --- orders -----------------------------------------------------------------------------
    def _order_item(self, order: Order, phase: str, price: float, decided_clock: datetime,
                    decided_wall: datetime) -> dict[str, Any]:
        item = {"pk": _s(f"order#{order.client_order_id}"), "signal_id": _s(order.signal_id),
                "order_symbol": _s(order.symbol), "phase": _s(phase), "price": _n(float(price)),
                "decided_clock": _s(to_wire_time(decided_clock)),
                "decided_wall": _s(to_wire_time(decided_wall)),
                "record": _s(mask(order.model_dump_json()))}
        if phase != FINAL:
            item["unfinished"] = _s("1")
        return item

    def insert_order(self, order: Order, price: float, decided_clock: datetime,
                     decided_wall: datetime) -> None:
        item = self._order_item(order, PENDING, price, decided_clock, decided_wall)
        self._write("Put", {"TableName": self.table, "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)"})
        if self._txn is None:
            self._mine[item["pk"]["S"]] = self._row(item)

    def update_order(self, order: Order, phase: str) -> None:
        pk = f"order#{order.client_order_id}"
        if phase == FINAL:
            expr = "SET #r = :r, phase = :p REMOVE unfinished"
            values = {":r": _s(mask(order.model_dump_json())), ":p": _s(phase)}
        else:
            expr = "SET #r = :r, phase = :p, unfinished = :u"
            values = {":r": _s(mask(order.model_dump_json())), ":p": _s(phase), ":u": _s("1")}
        self._write("Update", {"TableName": self.table, "Key": {"pk": _s(pk)},
                               "UpdateExpression": expr, "ExpressionAttributeNames": {"#r": "record"},
                               "ExpressionAttributeValues": values,
                               "ConditionExpression": "attribute_exists(pk)"})
        known = self._mine.get(pk)
        if known is not None:
            self._mine[pk] = StoredOrder(order, phase, known.price, known.decided_clock,
                                         known.decided_wall)

    @staticmethod
    def _row(item: dict[str, Any]) -> StoredOrder:
        return StoredOrder(parse(Order, item["record"]["S"]), item["phase"]["S"],
                           float(item["price"]["N"]), _time(item["decided_clock"]["S"]),
                           _time(item["decided_wall"]["S"]))

    def order(self, client_order_id: str) -> StoredOrder | None:
        item = self._get(f"order#{client_order_id}")
        return self._row(item) if item else None

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs = {"TableName": self.table, **kwargs}
        while True:
            resp = self._call("Query", self.client.query, **kwargs)
            yield from resp.get("Items", [])
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _merged(self, items: Iterator[dict[str, Any]]) -> dict[str, StoredOrder]:
        found = {i["pk"]["S"]: self._row(i) for i in items}
        found.update(self._mine)  # our own writes are newer than what a GSI may still show
        return found

    def unfinished_orders(self) -> list[StoredOrder]:
        rows = self._merged(self._query(IndexName=UNFINISHED_INDEX,
                                        KeyConditionExpression="unfinished = :u",
                                        ExpressionAttributeValues={":u": _s("1")}))
        return sorted((r for r in rows.values() if r.phase != FINAL),
                      key=lambda r: (r.decided_wall, r.order.client_order_id))

    def last_order_time(self, symbol: str) -> datetime | None:
        """Risk-clock time of the latest order on `symbol` that reached (or may reach) the market."""
        rows = self._merged(self._query(IndexName=BY_SYMBOL_INDEX,
                                        KeyConditionExpression="order_symbol = :s",
                                        ExpressionAttributeValues={":s": _s(symbol)},
                                        ScanIndexForward=False))
        live = [r.decided_clock for r in rows.values() if r.order.symbol == symbol
                and r.order.status not in (OrderStatus.failed, OrderStatus.rejected)]
        return max(live, default=None)

    def all_orders(self) -> list[Order]:
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True,
                                  "FilterExpression": "begins_with(pk, :o)",
                                  "ExpressionAttributeValues": {":o": _s("order#")}}
        rows: list[StoredOrder] = []
        while True:
            resp = self._call("Scan", self.client.scan, **kwargs)
            rows += [self._row(i) for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return [r.order for r in sorted(rows, key=lambda r: r.decided_wall)]

    # --- small facts ------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        item = self._get(f"kv#{key}")
        return item["value"]["S"] if item else None

    def put(self, key: str, value: str) -> None:
        self._write("Put", {"TableName": self.table,
                            "Item": {"pk": _s(f"kv#{key}"), "value": _s(value)}})

    def delete(self, key: str) -> None:
        self._write("Delete", {"TableName": self.table, "Key": {"pk": _s(f"kv#{key}")}})

    def put_json(self, key: str, value: object) -> None:
        self.put(key, json.dumps(value, sort_keys=True))

    def get_json(self, key: str) -> object | None:
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    # --- audit and kill switch (used by DynamoAudit and DynamoKillSwitch) --------------------
    def append_event(self, item: dict[str, Any]) -> None:
        if self.audit_ttl:
            item["expires_at"] = _n(int(time.time() + self.audit_ttl))
        self._write("Put", {"TableName": self.audit_table, "Item": item})

    def events(self) -> list[dict[str, Any]]:
        """The whole audit trail, oldest first (for tests and small exports)."""
        kwargs: dict[str, Any] = {"TableName": self.audit_table, "ConsistentRead": True}
        out: list[dict[str, Any]] = []
        while True:
            resp = self._call("Scan", self.client.scan, **kwargs)
            out += [{k: next(iter(v.values())) for k, v in i.items()} for i in resp["Items"]]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        for e in out:
            e["detail"] = json.loads(e["detail"])
        return sorted(out, key=lambda e: e["event_id"])

    def kill_item(self) -> dict[str, Any] | None:
        return self._get(KILL_KEY)


class DynamoAudit:
    """The audit trail of `tradeflow.trading.audit.Audit`, written to the DynamoDB audit table
    (inside the store's transaction when one is open). Secret values are masked first."""

    def __init__(self, store: DynamoStore, secrets: list[str] | tuple[str, ...] = ()) -> None:
        self.store = store
        register_secrets(*secrets)

    def record(self, kind: str, detail: Detail | None = None, *,
               signal_id: str | None = None, symbol: str | None = None,
               client_order_id: str | None = None, rule: str | None = None,
               at: datetime | None = None) -> None:
        assert kind in KINDS, kind
        text = detail_json(detail)
        when = to_wire_time(at or datetime.now(timezone.utc))
        # Time first, so a scan sorted by id is in order; the suffix keeps ids unique.
        item = {"event_id": _s(f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"),
                "time": _s(when), "kind": _s(kind), "detail": _s(text)}
        for name, value in (("signal_id", signal_id), ("symbol", symbol),
                            ("client_order_id", client_order_id), ("rule", rule)):
            if value:
                item[name] = _s(value)
        self.store.append_event(item)


class DynamoKillSwitch:
    """The kill switch as an item of the state table: while it exists no new order is placed.
    Engage it with `engage()` or by putting the item `{"pk": "kill_switch"}` by hand."""

    def __init__(self, store: DynamoStore) -> None:
        self.store = store
        self.path = f"dynamodb://{store.table}/{KILL_KEY}"

    def state(self) -> KillState:
        item = self.store.kill_item()
        if item is None:
            return KillState(False, path=self.path)
        text = {k: v.get("S", "") for k, v in item.items()}
        return KillState(True, text.get("reason") or "kill switch item present",
                         text.get("since") or None, text.get("by", ""), self.path)

    @property
    def engaged(self) -> bool:
        return self.store.kill_item() is not None

    def engage(self, reason: str = "", by: str = "cli") -> KillState:
        self.store.client.put_item(TableName=self.store.table, Item={
            "pk": _s(KILL_KEY), "reason": _s(reason or "engaged by operator"), "by": _s(by),
            "since": _s(to_wire_time(datetime.now(timezone.utc)))})
        return self.state()

    def release(self) -> KillState:
        self.store.client.delete_item(TableName=self.store.table, Key={"pk": _s(KILL_KEY)})
        return self.state()
