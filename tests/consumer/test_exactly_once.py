"""Duplicates, replays and crashes: every signal decided exactly once, one order per approval."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tradeflow.trading.audit import query
from tests.consumer.conftest import IN_SESSION, bar, client_order_id, line, statuses
from tradeflow.config import SIGNALS
from tradeflow.contracts import OrderStatus


class Crash(BaseException):
    """Stands for the process dying: nothing catches it, nothing after it runs."""


def decided_once(db_path) -> Counter:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT signal_id FROM events WHERE kind='decision'").fetchall()
    return Counter(r[0] for r in rows)


def test_duplicate_signal_makes_one_order(h, alpaca):
    h.alpaca(alpaca)
    c = h.consumer()
    raw = line(signal_id="twice")
    h.publish_signals([raw, raw])
    c.run(once=True, poll_timeout=0.1)
    assert c.handle_raw(raw) == "duplicate"  # and again later, in the same run
    c.close()
    assert h.consumer().handle_raw(raw) == "duplicate"  # and after a restart
    assert len(alpaca.calls("POST", "/v2/orders")) == 1 and len(alpaca.orders) == 1
    assert decided_once(c.store.path) == {"twice": 1}


def test_replayed_history_places_no_order_now(h, alpaca):
    h.alpaca(alpaca)
    c = h.consumer()
    start = datetime(2023, 6, 1, 14, 0, tzinfo=timezone.utc)
    h.publish_signals([line(signal_id=f"old-{i}", bar_time=start + timedelta(minutes=i))
                       for i in range(5)])
    stats = c.run(once=True, poll_timeout=0.1)
    assert stats == Counter({"staleness": 5})
    assert not alpaca.calls("POST") and not h.orders()


def test_replay_on_the_simulator_is_judged_by_its_own_clock_only_when_asked(h):
    history = [line(signal_id=f"h-{i}", symbol=s, bar_time=IN_SESSION + timedelta(minutes=i))
               for i, s in enumerate(("AAPL", "MSFT", "GOOG"))]
    wall = h.consumer(TRADEFLOW_RISK_CLOCK="wall", TRADEFLOW_AUDIT_DB=str(h.data / "a1.sqlite"))
    assert [wall.handle_raw(x) for x in history] == ["staleness"] * 3
    sim = h.consumer(TRADEFLOW_RISK_CLOCK="signal", TRADEFLOW_AUDIT_DB=str(h.data / "a2.sqlite"))
    assert [sim.handle_raw(x) for x in history] == ["approved"] * 3


def test_restart_in_the_middle_of_a_batch(h):
    batch = [line(signal_id=f"b-{i}", symbol=sym, bar_time=IN_SESSION + timedelta(minutes=i),
                  confidence=0.9 if i % 3 else 0.1)
             for i, sym in enumerate(("AAPL", "MSFT", "GOOG", "AMZN", "SPY", "NVDA", "META"))]
    h.publish_signals(batch)
    # The market: each symbol's next bar, where the paper broker fills.
    h.publish_bars([bar(sym, IN_SESSION + timedelta(minutes=i + 1), 100.0)
                    for i, sym in enumerate(("AAPL", "MSFT", "GOOG", "AMZN", "SPY", "NVDA",
                                             "META"))])

    first = h.consumer(TRADEFLOW_RISK_MAX_OPEN_POSITIONS="0")
    sub = first.backend.subscribe(SIGNALS, "consumer")
    messages = sub.poll(max_records=100, timeout=0.5)
    assert len(messages) == 7
    for m in messages[:4]:
        first.handle_raw(m.value)
    # Crash: no commit, the objects are simply abandoned.
    del sub, first

    second = h.consumer()
    stats = second.run(once=True, poll_timeout=0.1)
    assert stats["duplicate"] == 4
    assert decided_once(second.store.path) == {f"b-{i}": 1 for i in range(7)}
    approved = {r["signal_id"] for r in query(second.store, kind="decision")
                if r["rule"] == "approved"}
    assert approved == {f"b-{i}" for i in (1, 2, 4, 5)}
    paper_orders = second.executor.state["orders"]
    assert sorted(paper_orders) == sorted(client_order_id(s) for s in approved)
    finals = Counter(o.client_order_id for o in h.orders() if o.status is OrderStatus.filled)
    assert set(finals.values()) == {1} and len(finals) == 4
    # The position was committed at the end: a third start has nothing to do.
    assert h.consumer().run(once=True, poll_timeout=0.1) == Counter()


@pytest.mark.parametrize("reached_broker", [False, True])
def test_crash_between_decision_and_broker_answer(h, alpaca, reached_broker):
    h.alpaca(alpaca)
    first = h.consumer()
    real_submit = first.executor.submit

    def dying_submit(req, maybe_sent=False, **kw):
        if reached_broker:
            real_submit(req, maybe_sent, **kw)  # Alpaca has it; we die before recording the answer
        raise Crash

    first.executor.submit = dying_submit
    raw = line(signal_id="crash")
    h.publish_signals([raw])
    with pytest.raises(Crash):
        first.run(once=True, poll_timeout=0.1)
    coid = client_order_id("crash")
    assert first.store.order(coid).phase == "pending"
    # A dead writer's segment is sealed by the next writer before it writes (FileBackend's orphan
    # recovery); this process still holds its lock, so seal it here to keep the topic order.
    first.backend.flush()

    second = h.consumer()
    stats = second.run(once=True, poll_timeout=0.1)
    assert stats["duplicate"] == 1  # redelivered (no commit) and recognised
    assert len(alpaca.orders) == 1
    assert len(alpaca.calls("POST", "/v2/orders")) == 1
    assert alpaca.calls("GET", "/v2/orders:by_client_order_id"), "looked up before any resend"
    assert second.store.order(coid).order.status is OrderStatus.filled
    assert statuses(h.orders(), coid)[-1] == "filled"
    assert query(second.store, kind="recovery")


def crash_before_submitting(h, signal_id: str):
    """A consumer that decided on the signal and died before the broker heard of it."""
    first = h.consumer()

    def crash(req, maybe_sent=False, **kw):
        raise Crash

    first.executor.submit = crash
    with pytest.raises(Crash):
        first.handle_raw(line(signal_id=signal_id))
    return first


def test_a_pending_order_too_old_is_not_placed_late(h, alpaca):
    h.alpaca(alpaca)
    crash_before_submitting(h, "late")
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    h.env()
    from consumer.service import build_consumer

    shared, cs = h.settings()
    second = build_consumer(shared, cs, h.backend(), sleep=h.sleeps.append, wall=lambda: later)
    h.consumers.append(second)
    second.recover()
    order = second.store.order(client_order_id("late")).order
    assert order.status is OrderStatus.failed and "not placed late" in order.detail
    assert not alpaca.calls("POST")


def test_a_pending_order_is_not_sent_after_restart_while_the_kill_switch_is_on(h, alpaca):
    h.alpaca(alpaca)
    first = crash_before_submitting(h, "killed")
    first.kill.engage("operator stop")
    second = h.consumer()
    second.recover()
    order = second.store.order(client_order_id("killed")).order
    assert order.status is OrderStatus.failed and "kill switch" in order.detail
    assert not alpaca.calls("POST")
