"""Slack failures never block or skip an order; they are logged and audited."""

from __future__ import annotations

import logging

import pytest

from tradeflow.trading.audit import query
from tradeflow.trading.notifiers.slack import decision_blocks
from tests.consumer.conftest import IN_SESSION, client_order_id, fill, line


def test_slack_down_order_still_placed_and_failure_logged(h, alpaca, slack, caplog):
    h.alpaca(alpaca)
    h.slack(slack)
    c = h.consumer()
    slack.down()
    with caplog.at_level(logging.WARNING):
        assert c.handle_raw(line(signal_id="no-slack")) == "approved"
        assert c.handle_raw(line(signal_id="no-slack-2", symbol="MSFT")) == "approved"
    assert len(alpaca.orders) == 2
    assert "slack notification (decision) failed" in caplog.text
    assert "slack paused after a failure" in caplog.text  # no timeout paid per message
    assert query(c.store, kind="notify_error")


def test_slow_slack_costs_at_most_its_timeout(h, alpaca, slack, caplog):
    h.alpaca(alpaca)
    h.slack(slack)
    c = h.consumer(TRADEFLOW_SLACK_TIMEOUT_SECONDS="0.3")
    slack.fail("POST", "/api/chat.postMessage", delay=2.0, times=5)
    with caplog.at_level(logging.WARNING):
        c.handle_raw(line(signal_id="slow-slack"))
    assert len(alpaca.orders) == 1
    # One request, abandoned at the timeout; the next message is not sent while Slack is
    # paused, so a slow Slack costs the decision one timeout, not one per message.
    assert len(slack.calls("POST", "/api/chat.postMessage")) == 1
    assert "slack notification (decision) failed: TimeoutError" in caplog.text
    assert "slack paused after a failure" in caplog.text


@pytest.mark.parametrize("retry_after", [
    pytest.param("30", id="retry-after-seconds"),
    pytest.param("soon", id="retry-after-not-a-number"),  # pauses as a numeric one does
])
def test_a_slack_429_is_caught_and_the_order_still_filled(h, slack, caplog, retry_after):
    h.slack(slack)
    slack.fail("POST", "/api/chat.postMessage", 429, retry_after=retry_after)
    c = h.consumer()
    with caplog.at_level(logging.WARNING):
        assert fill(c, line(bar_time=IN_SESSION)) == "approved"
    assert "HTTP 429 ratelimited" in caplog.text and "ValueError" not in caplog.text
    assert c.store.order(next(iter(c.store.all_orders())).client_order_id).phase == "final"


def test_wrong_slack_token_is_reported_without_the_token(h, slack, caplog):
    h.slack(slack)
    h.env(SLACK_BOT_TOKEN="xoxb-wrong-token-value-9999")
    c = h.consumer()
    with caplog.at_level(logging.WARNING):
        c.handle_raw(line(bar_time=IN_SESSION))
    assert "invalid_auth" in caplog.text and "wrong-token-value" not in caplog.text


def test_veto_and_kill_switch_messages_are_block_kit(h, slack):
    h.slack(slack)
    c = h.consumer(TRADEFLOW_RISK_MIN_CONFIDENCE="0.9")
    c.check_kill_switch()
    c.handle_raw(line(signal_id="weak", bar_time=IN_SESSION))
    c.kill.engage("maintenance")
    c.check_kill_switch()
    c.kill.release()
    c.check_kill_switch()
    texts = [m["text"] for m in slack.messages]
    assert texts[0] == "BUY AAPL: vetoed (min_confidence)"
    assert texts[1:] == ["kill switch engaged", "kill switch released"]
    veto = slack.messages[0]["blocks"]
    assert veto[0]["type"] == "header" and "Vetoed" in veto[0]["text"]["text"]
    assert any("min_confidence" in f["text"] for f in veto[2]["fields"])
    assert "maintenance" in str(slack.messages[1]["blocks"])


def test_console_notifier_when_slack_is_not_configured(h, capsys):
    c = h.consumer()
    assert c.notifier.name == "console"
    fill(c, line(signal_id="console", bar_time=IN_SESSION))
    err = capsys.readouterr().err
    assert "ORDER" in err and "FILLED" in err and client_order_id("console") in err


def test_block_kit_escapes_text():
    from tradeflow.trading.risk import Decision
    from tradeflow.contracts import TradingSignal, parse

    sig = parse(TradingSignal, line(reason="a <b> & c", bar_time=IN_SESSION))
    blocks = decision_blocks(sig, Decision(False, "cooldown", "x < y"), None)
    assert "&lt;b&gt; &amp; c" in str(blocks) and "<b>" not in str(blocks)
