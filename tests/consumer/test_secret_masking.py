"""Secrets never leave the process, even when a broker or Slack quotes them back.

Canary credentials are given to the consumer; the Alpaca and Slack stubs repeat the request's
credentials in every error answer (4xx, 5xx, 429, malformed bodies, Slack's `ok: false`), as some
proxies and error pages do. Then no canary may appear anywhere the consumer writes: the `orders`
and `dead-letter` topics, every table of the audit database (and every file of the data
directory), the messages Slack received, the logs (caplog and stderr, tracebacks included), the
console notifier, or the dashboard's snapshot and websocket payloads built from those orders.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from dashboard.events import Decoder
from dashboard.snapshot import DashboardState
from tests.consumer.conftest import client_order_id, line
from tools.stubs.alpaca_trading import AlpacaTradingStub
from tools.stubs.slack import SlackStub
from tradeflow.config import DEAD_LETTER, ORDERS, SIGNALS
from tradeflow.contracts import Order, OrderStatus, build, parse
from tradeflow.logs import MaskingFormatter, mask, register_secrets, setup_logging

KEY = "PKCANARYKEYID0000042"
SECRET = "canary-alpaca-secret-7f3a9b2e"
TOKEN = "xoxb-0000-canary-slack-token-5e1d"
CANARIES = (KEY, SECRET, TOKEN, TOKEN.split("-", 1)[1])


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return [c for c in CANARIES if c in text]


@pytest.fixture
def leaky_alpaca() -> Iterator[AlpacaTradingStub]:
    with AlpacaTradingStub(key_id=KEY, secret=SECRET, prices={"AAPL": 101.0}) as stub:
        stub.echo_credentials = True
        yield stub


@pytest.fixture
def leaky_slack() -> Iterator[SlackStub]:
    with SlackStub(token=TOKEN) as stub:
        stub.echo_credentials = True
        yield stub


def echoed(stub) -> int:
    """How many answers of the stub quoted a canary (the test means nothing if none did)."""
    return sum(bool(leaks(json.dumps(r.response))) for r in stub.requests)


def order_with(detail: str) -> Order:
    now = datetime.now(timezone.utc)
    return build(Order, client_order_id="tf-x", signal_id="s", symbol="AAPL", side="buy", qty=1,
                 order_type="market", status=OrderStatus.rejected, broker="alpaca",
                 submitted_at=now, updated_at=now, detail=detail)


def dump_db(path) -> str:
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def test_broker_and_slack_errors_quoting_the_secret_leak_nowhere(h, leaky_alpaca, leaky_slack,
                                                                  caplog, capsys):
    alpaca, slack = leaky_alpaca, leaky_slack
    h.alpaca(alpaca)
    h.slack(slack)
    c = h.consumer(TRADEFLOW_BROKER_RETRIES="2", TRADEFLOW_SLACK_TIMEOUT_SECONDS="0.5")
    c.notifier.inner.pause_seconds = 0  # every Slack error path is reached, none skipped
    outcomes = {}
    with caplog.at_level(logging.DEBUG):
        # 4xx: a rejection whose message (and its echo) becomes the order's detail.
        alpaca.fail("POST", "/v2/orders", 403, body={"code": 40310000,
                                                     "message": "insufficient buying power"})
        outcomes["403"] = c.handle_raw(line(signal_id="m403", symbol="AAPL"))
        # 429 throughout: failed, "broker unavailable".
        alpaca.fail("POST", "/v2/orders", 429, retry_after="0", times=2)
        outcomes["429"] = c.handle_raw(line(signal_id="m429", symbol="MSFT"))
        # 5xx throughout: outcome unknown (pending), then reconciled and placed.
        alpaca.fail("POST", "/v2/orders", 502, times=2)
        outcomes["502"] = c.handle_raw(line(signal_id="m502", symbol="NVDA"))
        # A malformed answer to the POST (no order id), quoting the credentials.
        alpaca.fail("POST", "/v2/orders", 200, body={"status": "accepted"}, times=2)
        outcomes["malformed"] = c.handle_raw(line(signal_id="mbad", symbol="AMZN"))
        # Status polls failing (followed later), Slack failing in each way meanwhile.
        alpaca.fail("GET", "/v2/orders/", 500)
        slack.fail("POST", "/api/chat.postMessage", 500)
        slack.fail("POST", "/api/chat.postMessage", 429, retry_after="0")
        slack.fail("POST", "/api/chat.postMessage", 200, body={"ok": False,
                                                               "error": "channel_not_found"})
        outcomes["poll"] = c.handle_raw(line(signal_id="mpoll", symbol="GOOG"))
        # Reads failing: a veto whose reason quotes the broker (audited, sent to Slack).
        alpaca.fail("GET", "/v2/account", 503, times=2)
        outcomes["veto"] = c.handle_raw(line(signal_id="mveto", symbol="TSLA"))
        alpaca.fail("GET", "/v2/clock", 200, body={"is_open": "maybe"}, times=2)
        outcomes["clock"] = c.handle_raw(line(signal_id="mclock", symbol="META"))
        # Any other exception quoting a secret: logged with its traceback, dead-lettered.
        real = c.executor.observe_price

        def boom(*_a, **_k):
            raise RuntimeError(f"proxy said: bad credentials {KEY}:{SECRET}")

        c.executor.observe_price = boom
        outcomes["error"] = c.handle_raw(line(signal_id="merr", symbol="IBM"))
        c.executor.observe_price = real
        c.refresh_orders(force=True)
        c.refresh_orders(force=True)
        c.check_kill_switch()

    # The paths were taken, and the stubs did quote the canaries.
    assert outcomes == {"403": "approved", "429": "approved", "502": "approved",
                        "malformed": "approved", "poll": "approved",
                        "veto": "broker_unavailable", "clock": "broker_unavailable",
                        "error": "error"}
    assert echoed(alpaca) >= 10 and echoed(slack) >= 3
    rejected = c.store.order(client_order_id("m403")).order
    assert rejected.status is OrderStatus.rejected
    assert "insufficient buying power" in rejected.detail and "***" in rejected.detail

    # Topics.
    orders, dead = h.read(ORDERS), h.read(DEAD_LETTER)
    assert orders and dead
    for raw in orders + dead + h.read(SIGNALS):
        assert not leaks(raw), raw
    assert any(b"***" in raw for raw in orders) and any(b"***" in raw for raw in dead)
    # The audit database, every table, and every file of the data directory.
    db = c.store.path
    dump = dump_db(db)
    assert "broker_error" in dump and "notify_error" in dump and "***" in dump
    assert not leaks(dump)
    c.store.close()
    for f in h.data.rglob("*"):
        if f.is_file():
            assert not leaks(f.read_bytes()), f
    # Slack: every message it was sent (accepted or not).
    bodies = [json.dumps(r.body) for r in slack.calls("POST")]
    assert any("Vetoed" in b and "***" in b for b in bodies)
    assert not leaks("\n".join(bodies))
    # Logs (caplog, with the traceback) and the terminal.
    assert "Traceback" in caplog.text and "proxy said: bad credentials ***:***" in caplog.text
    assert not leaks(caplog.text)
    for r in caplog.records:
        assert not leaks(r.getMessage()) and not leaks(r.exc_text or "")
    out = capsys.readouterr()
    assert not leaks(out.out) and not leaks(out.err)
    # The dashboard, fed from the orders topic.
    state, dec = DashboardState(), Decoder()
    pushed = [state.apply(dec.decode(ORDERS, raw)) for raw in orders]
    assert state.orders
    assert not leaks(json.dumps(state.snapshot())) and not leaks(json.dumps(pushed))


def test_console_notifier_masks_what_it_prints(h, leaky_alpaca, capsys):
    h.alpaca(leaky_alpaca)
    c = h.consumer()
    assert c.notifier.name == "console"
    leaky_alpaca.fail("POST", "/v2/orders", 403)
    c.handle_raw(line(signal_id="console-403"))
    err = capsys.readouterr().err
    assert "REJECTED" in err and "***" in err and not leaks(err)


def test_dashboard_masks_an_order_that_quotes_a_secret(monkeypatch):
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)  # the dashboard knows the environment's
    order = order_with(f"rejected: HTTP 403 (APCA-API-SECRET-KEY: {SECRET})")
    ev = Decoder().decode(ORDERS, order.to_json())
    state = DashboardState()
    state.apply(ev)
    assert not leaks(json.dumps(ev.wire)) and not leaks(json.dumps(state.snapshot()))
    assert "***" in json.dumps(state.snapshot())


def test_logged_tracebacks_are_masked_by_the_formatter(monkeypatch, capsys):
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    register_secrets(TOKEN)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("INFO", "test")
        try:
            try:
                raise ValueError(f"secret in a cause: {SECRET}")
            except ValueError as cause:
                raise RuntimeError(f"token {TOKEN} refused") from cause
        except RuntimeError:
            logging.getLogger("x").exception("failed with %s", SECRET)
        logging.getLogger("x").warning("stack", stack_info=True, extra={"k": TOKEN})
    finally:
        root.handlers[:], root.level = saved
    err = capsys.readouterr().err
    assert "Traceback" in err and "secret in a cause: ***" in err and "failed with ***" in err
    assert not leaks(err)


def test_formatter_masks_a_record_made_before_masking_was_installed(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    try:
        raise KeyError(TOKEN)
    except KeyError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "no %s", (TOKEN,),
                                   sys.exc_info())
    text = MaskingFormatter("%(message)s").format(record)
    assert "KeyError" in text and not leaks(text)


def test_mask_forms_and_registration(monkeypatch):
    odd = "s3cr/t+with spaces&\"quotes\""
    register_secrets(odd, None, "short")  # "short" (5 characters) is too short to mask
    assert mask(f"a {odd} b") == "a *** b"
    assert mask(json.dumps({"v": odd})) == '{"v": "***"}'
    from urllib.parse import quote

    assert mask(f"url?k={quote(odd, safe='')}") == "url?k=***"
    assert mask("short story") == "short story"
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    assert mask(f"key {KEY}") == "key ***"
    parsed = parse(Order, order_with(KEY).to_json())
    assert parsed.detail == KEY  # the model itself is untouched: masking is where it is written
