"""The audit trail: what the consumer saw, decided, asked the broker and got back, in order.

Events live in the `events` table of the consumer's SQLite file (see `store.py`); triggers make it
append-only. Details are JSON built by the consumer from contract records and broker responses;
before anything is stored it goes through `tradeflow.logs.mask` (the secrets of the environment,
of the settings and any given here are masked), as log lines do. A contract record is given as
it is and serialised by the trails that store it (`detail_json`): the backtest's trail in memory
keeps it as given, and a backtest records tens of thousands of signals.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, Union

from pydantic import BaseModel

from tradeflow.contracts import to_wire_time
from tradeflow.logs import mask, register_secrets

from .store import Store, read_only

KINDS = ("signal", "duplicate", "decision", "order_request", "broker_response", "broker_error",
         "order_update", "fill", "notify_error", "kill_switch", "dead_letter", "recovery",
         "trade_closed")
COLUMNS = ("id", "time", "kind", "signal_id", "symbol", "client_order_id", "rule", "detail")
# What an event says: a dict, or a contract record (pydantic model) as the engine holds it.
Detail = Union[dict[str, Any], BaseModel]


def detail_json(detail: Detail | None) -> str:
    """An event's detail as a durable trail stores it: JSON, keys sorted, secrets masked."""
    if isinstance(detail, BaseModel):
        detail = detail.model_dump(mode="json")
    return mask(json.dumps(detail or {}, sort_keys=True, default=str))


class AuditTrail(Protocol):
    """Where the engine writes what it saw and did: SQLite (`Audit`), DynamoDB, or memory."""

    def record(self, kind: str, detail: Detail | None = None, *,
               signal_id: str | None = None, symbol: str | None = None,
               client_order_id: str | None = None, rule: str | None = None) -> None: ...


class Audit:
    def __init__(self, store: Store, secrets: Iterable[str] = ()) -> None:
        self.store = store
        register_secrets(*secrets)

    def record(self, kind: str, detail: Detail | None = None, *, signal_id: str | None = None,
               symbol: str | None = None, client_order_id: str | None = None,
               rule: str | None = None, at: datetime | None = None) -> None:
        assert kind in KINDS, kind
        text = detail_json(detail)
        self.store.execute(
            "INSERT INTO events (time, kind, signal_id, symbol, client_order_id, rule, detail) "
            "VALUES (?,?,?,?,?,?,?)",
            (to_wire_time(at or datetime.now(timezone.utc)), kind, signal_id, symbol,
             client_order_id, mask(rule) if rule else rule, text))


class MemoryAudit:
    """The audit trail of a run that keeps nothing on disk (the backtest): events in lists, one
    per kind, in order, each detail as given (a dict or a contract record)."""

    def __init__(self) -> None:
        self._kinds: dict[str, list[tuple[Detail, dict[str, Any]]]] = {k: [] for k in KINDS}

    def record(self, kind: str, detail: Detail | None = None, *,
               signal_id: str | None = None, symbol: str | None = None,
               client_order_id: str | None = None, rule: str | None = None) -> None:
        self._kinds[kind].append((detail or {}, {
            "signal_id": signal_id, "symbol": symbol, "client_order_id": client_order_id,
            "rule": rule}))

    def of_kind(self, kind: str) -> list[tuple[Detail, dict[str, Any]]]:
        return self._kinds[kind]


def query(db: Path | Store, symbol: str | None = None, kind: str | None = None,
          since: datetime | None = None, signal_id: str | None = None,
          limit: int | None = None) -> list[dict[str, Any]]:
    """Events matching every given filter, oldest first (the last `limit` when given)."""
    where, args = [], []
    if symbol:
        where.append("symbol = ?")
        args.append(symbol.upper())
    if kind:
        where.append("kind = ?")
        args.append(kind)
    if since:
        where.append("time >= ?")
        args.append(to_wire_time(since))
    if signal_id:
        where.append("signal_id = ?")
        args.append(signal_id)
    sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
    if limit:
        sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {int(limit)})"
    sql += " ORDER BY id"
    if isinstance(db, Store):
        rows = db.execute(sql, tuple(args)).fetchall()
    else:
        with read_only(db) as conn:
            rows = conn.execute(sql, args).fetchall()
    return [dict(r) for r in rows]


def to_jsonl(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    for e in events:
        yield json.dumps({**e, "detail": json.loads(e["detail"])}, sort_keys=False) + "\n"


def to_csv(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    for e in events:
        w.writerow(e)
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()
