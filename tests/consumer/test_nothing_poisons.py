"""Nothing can poison the engine: a record from the future, a broker answering nonsense, a kill
switch engaged mid-retry or an odd KILL file never leave it trading wrongly or crashing."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

from tradeflow.trading.audit import query
from tradeflow.trading.engine import CLOCK_KEY
from tradeflow.trading.killswitch import KillSwitch
from tests.consumer.conftest import IN_SESSION, client_order_id, decisions, line, statuses
from tradeflow.contracts import OrderStatus

FUTURE = datetime(2031, 3, 4, 15, 0, tzinfo=timezone.utc)  # a Tuesday, in session


def reason(c, signal_id: str) -> str:
    return json.loads(decisions(c, signal_id)[0]["detail"])["reason"]


# --- a signal from the future ------------------------------------------------------------------
def test_a_signal_from_the_future_is_vetoed_and_moves_nothing_across_restarts(h):
    c = h.consumer()  # the paper broker, on the signal clock
    assert c.handle_raw(line(signal_id="buy", bar_time=IN_SESSION)) == "approved"
    equity = c.executor.account().equity
    # An absurd price too: a vetoed record must not even mark the paper position.
    assert c.handle_raw(line(signal_id="2031", action="SELL", price=9_999.0,
                             bar_time=FUTURE)) == "staleness"
    assert "future of the wall clock" in reason(c, "2031")
    assert c.clock.latest == IN_SESSION and c.store.get(CLOCK_KEY) == "2024-03-05T15:00:00Z"
    assert c.executor.account().equity == equity
    assert statuses(h.orders(), client_order_id("2031")) == []
    later = IN_SESSION + timedelta(minutes=1)
    assert c.handle_raw(line(signal_id="sell", action="SELL", bar_time=later)) == "approved"
    c.close()

    c2 = h.consumer()  # a restart over the same data dir
    assert c2.clock.latest == later
    assert c2.handle_raw(line(signal_id="2031-again", bar_time=FUTURE)) == "staleness"
    assert c2.handle_raw(line(signal_id="buy-2", bar_time=later + timedelta(minutes=1))) \
        == "approved"


def test_a_signal_clock_saved_in_the_future_before_this_check_is_not_kept(h):
    c = h.consumer()
    c.store.put(CLOCK_KEY, "2031-03-04T15:00:00Z")  # a data dir poisoned by an older version
    c.close()
    c2 = h.consumer()
    assert c2.clock.latest is None
    assert c2.handle_raw(line(bar_time=IN_SESSION)) == "approved"


def test_a_signal_from_the_future_never_reaches_alpaca(h, alpaca):
    h.alpaca(alpaca)
    c = h.consumer()
    assert c.handle_raw(line(signal_id="2031", bar_time=FUTURE)) == "staleness"
    assert not alpaca.calls("POST")
    assert c.handle_raw(line(signal_id="now")) == "approved"  # bar_time 5 s ago
    assert len(alpaca.orders) == 1


# --- the kill switch before every attempt to send -------------------------------------------
@pytest.mark.parametrize("status", [429, 503])
def test_kill_switch_engaged_while_a_retry_waits_stops_the_order(h, alpaca, status):
    h.alpaca(alpaca)
    c = h.consumer()
    alpaca.fail("POST", "/v2/orders", status, retry_after="30")

    def kill_while_waiting(seconds: float) -> None:  # `tradeflow consume kill` during the wait
        h.sleeps.append(seconds)
        c.kill.engage("operator stop", by="test")

    c.executor.sleep = kill_while_waiting
    assert c.handle_raw(line(signal_id="k")) == "approved"
    assert [r.status for r in alpaca.calls("POST", "/v2/orders")] == [status], \
        "no POST after the kill switch"
    assert not alpaca.orders
    coid = client_order_id("k")
    order = c.store.order(coid).order
    assert order.status is OrderStatus.failed and "kill switch engaged" in order.detail
    assert "operator stop" in order.detail
    assert statuses(h.orders(), coid) == ["new", "failed"]
    c.kill.release()
    c.refresh_orders(force=True)  # final: never placed late
    assert len(alpaca.calls("POST", "/v2/orders")) == 1


# --- a broker answering nonsense -----------------------------------------------------------
@pytest.mark.parametrize("body", [
    {"client_order_id": "x", "status": "accepted"},  # no id
    {"id": 42, "status": "accepted"},  # wrong types
    {"id": "o-1", "status": "filled", "filled_qty": "lots"},
    {"id": "o-1", "status": "filled", "filled_qty": "5", "filled_avg_price": "NaN"},
    ["not", "an", "order"],
    "ok",
], ids=["no-id", "int-id", "qty-text", "price-nan", "list", "string"])
def test_a_malformed_order_answer_is_a_broker_error_and_restarts_cleanly(h, alpaca, body):
    h.alpaca(alpaca)
    c = h.consumer(TRADEFLOW_BROKER_RETRIES="2")
    alpaca.fail("POST", "/v2/orders", 200, body=body, times=100)  # until the restart
    h.publish_signals([line(signal_id="mal"), line(signal_id="next", symbol="MSFT")])
    stats = c.run(once=True, poll_timeout=0.1)  # keeps running: both signals decided
    assert stats["approved"] == 2 and not stats["error"] and not h.dead_letters()
    coids = [client_order_id("mal"), client_order_id("next")]
    for coid in coids:
        stored = c.store.order(coid)
        # A 200 to the POST: it may have been placed, so it is looked up before any resend.
        assert stored.phase == "pending" and "malformed answer" in stored.order.detail
    assert query(c.store, kind="broker_error", signal_id="mal")
    c.close()

    alpaca._faults.clear()  # the broker is sane again
    c2 = h.consumer()  # a restart: the recovery looks them up (absent) and sends each once
    c2.run(once=True, poll_timeout=0.1)
    for coid in coids:
        assert c2.store.order(coid).order.status is OrderStatus.filled
    assert len(alpaca.orders) == 2


def test_a_malformed_answer_to_an_order_that_was_made_adopts_it(h, alpaca):
    h.alpaca(alpaca)
    c = h.consumer()
    alpaca.fail("POST", "/v2/orders", 200, body={"status": "accepted"}, process=True)
    assert c.handle_raw(line(signal_id="made")) == "approved"
    assert len(alpaca.calls("POST", "/v2/orders")) == 1 and len(alpaca.orders) == 1
    assert c.store.order(client_order_id("made")).order.status is OrderStatus.filled


def test_recovery_survives_malformed_lookups_at_every_start(h, alpaca):
    h.alpaca(alpaca)
    c = h.consumer(TRADEFLOW_BROKER_RETRIES="1")
    alpaca.fail("POST", "/v2/orders", 200, body={"status": "accepted"})
    c.handle_raw(line(signal_id="rec"))
    coid = client_order_id("rec")
    assert c.store.order(coid).phase == "pending"
    c.close()
    alpaca.fail("GET", "/v2/orders:by_client_order_id", 200, body={"id": None}, times=100)
    for _ in range(2):  # start after start: no crash, the order waits
        again = h.consumer()
        assert again.recover() == 1
        assert again.store.order(coid).phase == "pending"
        again.close()
    alpaca._faults.clear()  # the broker is sane again
    last = h.consumer()
    last.run(once=True, poll_timeout=0.1)
    assert last.store.order(coid).order.status is OrderStatus.filled and len(alpaca.orders) == 1


@pytest.mark.parametrize("path,body", [
    ("/v2/account", {"equity": "NaN", "cash": "1"}),
    ("/v2/account", {"cash": "1"}),
    ("/v2/positions", [{"symbol": "AAPL", "qty": {"n": 1}}]),
    ("/v2/clock", {"is_open": "false"}),
    ("/v2/clock", None),
], ids=["equity-nan", "no-equity", "qty-object", "is-open-text", "empty"])
def test_a_malformed_read_vetoes_with_a_reason(h, alpaca, path, body):
    h.alpaca(alpaca)
    c = h.consumer()
    alpaca.fail("GET", path, 200, body=body if body is not None else "", times=10)
    assert c.handle_raw(line(signal_id="r")) == "broker_unavailable"
    assert "malformed answer" in reason(c, "r")
    assert not alpaca.calls("POST")


# --- odd KILL files ------------------------------------------------------------------------------
def _odd(kind: str, path) -> None:
    if kind == "directory":
        path.mkdir()
    elif kind == "dangling symlink":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "symlink to a directory":
        (path.parent / "a-dir").mkdir()
        path.symlink_to(path.parent / "a-dir")
    elif kind == "fifo":
        os.mkfifo(path)  # reading it would block forever
    elif kind == "unreadable":
        path.write_text('{"reason": "secret"}')
        path.chmod(0)


@pytest.mark.parametrize("kind", ["directory", "dangling symlink", "symlink to a directory",
                                  "fifo", "unreadable"])
def test_an_odd_kill_file_engages_the_switch(h, kind):
    c = h.consumer()
    path = c.kill.path
    path.parent.mkdir(parents=True, exist_ok=True)
    _odd(kind, path)
    if kind == "unreadable" and os.access(path, os.R_OK):
        pytest.skip("running as root: every file is readable")
    state = KillSwitch(path).state()
    assert state.engaged and c.kill.engaged and str(path) in state.reason
    c.check_kill_switch()  # the loop's check does not crash on it
    assert c.handle_raw(line(bar_time=IN_SESSION)) == "kill_switch"
    assert not h.orders()


def test_nothing_at_the_kill_path_releases_it(tmp_path):
    assert not KillSwitch(tmp_path / "KILL").state().engaged
    assert not KillSwitch(tmp_path / "no-such-dir" / "KILL").engaged


def test_a_signal_over_the_record_size_limit_is_dead_lettered_cut_short(h):
    c = h.consumer()
    raw = line(signal_id="big", indicators={"rsi_14": 27.5}, reason="x" * 3_000_000)
    assert c.handle_raw(raw) == "dead_letter"
    [letter] = h.dead_letters()
    assert "bytes is over the 1,048,576-byte limit" in letter.reason
    assert len(letter.original) < 5000 and "characters in all" in letter.original
    assert c.handle_raw(line(signal_id="next", bar_time=IN_SESSION)) == "approved"
