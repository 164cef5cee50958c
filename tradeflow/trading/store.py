"""The consumer's embedded SQLite database: audit events and the state that makes restarts safe.

One file, one connection, so a signal's audit events, its decision, its order and the record that
it was processed are written in a single transaction: after a crash either all of them exist or
none does (and the signal, whose topic position was not committed, is decided again).

Tables: `events` (append-only audit trail, guarded by triggers), `processed` (signal ids already
decided), `orders` (each order's latest state and where it is in its life: `pending` = decided but
the broker has not confirmed it, `open` = at the broker and not final, `final`), `kv` (small
facts such as the day the daily loss limit stopped trading).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from bisect import insort
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tradeflow.contracts import Order, OrderStatus, parse, to_wire_time
from tradeflow.logs import mask

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    signal_id TEXT,
    symbol TEXT,
    client_order_id TEXT,
    rule TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_symbol ON events(symbol, id);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, id);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_signal ON events(signal_id);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TABLE IF NOT EXISTS processed (
    signal_id TEXT PRIMARY KEY,
    decided_at TEXT NOT NULL,
    approved INTEGER NOT NULL,
    rule TEXT NOT NULL,
    client_order_id TEXT
);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    signal_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    phase TEXT NOT NULL,
    price REAL NOT NULL,
    decided_clock TEXT NOT NULL,
    decided_wall TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_phase ON orders(phase);
CREATE INDEX IF NOT EXISTS orders_symbol ON orders(symbol, decided_clock);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

PENDING, OPEN, FINAL = "pending", "open", "final"


@dataclass(frozen=True)
class StoredOrder:
    order: Order
    phase: str
    price: float  # the signal's price when decided: the paper broker fills there
    decided_clock: datetime
    decided_wall: datetime


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


class StoreError(RuntimeError):
    """The consumer's database cannot be read: one line naming the file."""


def _unreadable(path: Path, err: sqlite3.Error) -> StoreError:
    return StoreError(f"{path}: cannot read the consumer's database ({err}); move it away to "
                      f"start afresh (it holds the audit trail and the open orders)")


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that cannot create or change the database (listing must not)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    except sqlite3.DatabaseError as err:
        raise _unreadable(path, err) from None
    finally:
        conn.close()


class Store:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # In memory (the backtest) nothing survives the process: no restart to prepare for.
        self.durable = str(path) != ":memory:"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode; `transaction()` opens explicit transactions. The lock serialises use
        # from the CLI thread and the loop (sqlite3 connections are not thread-safe).
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a decision on disk survives power loss
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            self.db.close()
            raise _unreadable(self.path, err) from None
        self._lock = threading.RLock()
        self._depth = 0

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside commit together or not at all. Nested uses join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.db
                finally:
                    self._depth -= 1
                return
            self.db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")
            finally:
                self._depth = 0

    def execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.db.execute(sql, args)

    # --- processed signals ------------------------------------------------------------------
    def is_processed(self, signal_id: str) -> bool:
        return self.execute("SELECT 1 FROM processed WHERE signal_id=?", (signal_id,)).fetchone() \
            is not None

    def mark_processed(self, signal_id: str, at: datetime, approved: bool, rule: str,
                       client_order_id: str | None) -> None:
        self.execute("INSERT INTO processed VALUES (?,?,?,?,?)",
                     (signal_id, to_wire_time(at), int(approved), rule, client_order_id))

    # --- orders -----------------------------------------------------------------------------
    def insert_order(self, order: Order, price: float, decided_clock: datetime,
                     decided_wall: datetime) -> None:
        self.execute(
            "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)",
            (order.client_order_id, order.signal_id, order.symbol, PENDING, price,
             to_wire_time(decided_clock), to_wire_time(decided_wall),
             mask(order.model_dump_json())))  # masked: a broker's error may quote a secret

    def update_order(self, order: Order, phase: str) -> None:
        self.execute("UPDATE orders SET record=?, phase=? WHERE client_order_id=?",
                     (mask(order.model_dump_json()), phase, order.client_order_id))

    def _row(self, row: sqlite3.Row) -> StoredOrder:
        return StoredOrder(parse(Order, row["record"]), row["phase"], row["price"],
                           _time(row["decided_clock"]), _time(row["decided_wall"]))

    def order(self, client_order_id: str) -> StoredOrder | None:
        row = self.execute("SELECT * FROM orders WHERE client_order_id=?",
                           (client_order_id,)).fetchone()
        return self._row(row) if row else None

    def unfinished_orders(self) -> list[StoredOrder]:
        rows = self.execute("SELECT * FROM orders WHERE phase != ? ORDER BY rowid", (FINAL,))
        return [self._row(r) for r in rows.fetchall()]

    def last_order_time(self, symbol: str) -> datetime | None:
        """Risk-clock time of the latest order on `symbol` that reached (or may reach) the market."""
        with self._lock:  # lazily: the newest order is nearly always the answer
            rows = self.db.execute("SELECT * FROM orders WHERE symbol=? ORDER BY decided_clock "
                                   "DESC", (symbol,))
            row = next(rows, None)
            while row is not None and parse(Order, row["record"]).status in (
                    OrderStatus.failed, OrderStatus.rejected):
                row = next(rows, None)
        return _time(row["decided_clock"]) if row is not None else None

    def all_orders(self) -> list[Order]:
        return [parse(Order, r["record"]) for r in
                self.execute("SELECT record FROM orders ORDER BY rowid").fetchall()]

    # --- small facts ------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return row["value"] if row else None

    def put(self, key: str, value: str) -> None:
        self.execute("INSERT INTO kv VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     (key, value))

    def delete(self, key: str) -> None:
        self.execute("DELETE FROM kv WHERE key=?", (key,))

    def put_json(self, key: str, value: object) -> None:
        self.put(key, json.dumps(value, sort_keys=True))

    def get_json(self, key: str) -> object | None:
        raw = self.get(key)
        return None if raw is None else json.loads(raw)


class MemoryStore:
    """The store of a run that keeps nothing (the backtest): `Store`'s interface on dicts.

    Nothing survives the process, so there is no transaction to make atomic and no record to
    serialise: orders are kept as the (immutable) contract objects the engine gives."""

    durable = False
    path = Path(":memory:")

    def __init__(self) -> None:
        self._processed: set[str] = set()
        self._orders: dict[str, StoredOrder] = {}  # in insertion order, as rowid
        self._unfinished: dict[str, None] = {}  # the same order
        self._by_symbol: dict[str, list[str]] = {}
        self._kv: dict[str, object] = {}

    def close(self) -> None:
        pass

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield None

    def is_processed(self, signal_id: str) -> bool:
        return signal_id in self._processed

    def mark_processed(self, signal_id: str, at: datetime, approved: bool, rule: str,
                       client_order_id: str | None) -> None:
        self._processed.add(signal_id)

    def insert_order(self, order: Order, price: float, decided_clock: datetime,
                     decided_wall: datetime) -> None:
        self._orders[order.client_order_id] = StoredOrder(order, PENDING, price, decided_clock,
                                                          decided_wall)
        self._unfinished[order.client_order_id] = None
        insort(self._by_symbol.setdefault(order.symbol, []), order.client_order_id,
               key=lambda coid: self._orders[coid].decided_clock)

    def update_order(self, order: Order, phase: str) -> None:
        old = self._orders[order.client_order_id]
        self._orders[order.client_order_id] = StoredOrder(order, phase, old.price,
                                                          old.decided_clock, old.decided_wall)
        if phase == FINAL:
            self._unfinished.pop(order.client_order_id, None)

    def order(self, client_order_id: str) -> StoredOrder | None:
        return self._orders.get(client_order_id)

    def unfinished_orders(self) -> list[StoredOrder]:
        return [self._orders[coid] for coid in self._unfinished]

    def last_order_time(self, symbol: str) -> datetime | None:
        for coid in reversed(self._by_symbol.get(symbol, ())):  # newest first
            stored = self._orders[coid]
            if stored.order.status not in (OrderStatus.failed, OrderStatus.rejected):
                return stored.decided_clock
        return None

    def all_orders(self) -> list[Order]:
        return [o.order for o in self._orders.values()]

    def get(self, key: str) -> str | None:
        return self._kv.get(key)

    def put(self, key: str, value: str) -> None:
        self._kv[key] = value

    def delete(self, key: str) -> None:
        self._kv.pop(key, None)

    def put_json(self, key: str, value: object) -> None:
        self._kv[key] = value  # type: ignore[assignment] - kept as given: nothing to encode for

    def get_json(self, key: str) -> object | None:
        return self._kv.get(key)
