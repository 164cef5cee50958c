"""`tradeflow consume` (file mode, topic mode, kill switch) and `tradeflow audit` (list, export)."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta

import pytest
from click.testing import CliRunner

from consumer.cli import audit, consume
from tradeflow.trading.killswitch import kill_switch_state
from tests.consumer.conftest import IN_SESSION, bar, line


def run(cmd, *args: str):
    result = CliRunner().invoke(cmd, list(args), catch_exceptions=False)
    return result


def test_consume_from_file_once_with_malformed_records(h, tmp_path):
    h.settings()
    path = tmp_path / "signals.jsonl"
    path.write_bytes(b"\n".join([
        line(signal_id="f-1", bar_time=IN_SESSION),
        b"{not json",
        line(signal_id="f-2", symbol="msft", bar_time=IN_SESSION),  # lower-case symbol
        line(signal_id="f-3", symbol="MSFT", bar_time=IN_SESSION, confidence=0.2),
        json.dumps({"v": 1, "signal_id": "f-4"}).encode(),
        bar("AAPL", IN_SESSION + timedelta(minutes=1), 100.0),  # the market: fills f-1
    ]) + b"\n")
    result = run(consume, "--from", str(path), "--once")
    assert result.exit_code == 0, result.output
    assert "approved 1" in result.output and "min_confidence 1" in result.output
    assert "dead-lettered 3" in result.output
    dead = h.dead_letters()
    assert len(dead) == 3 and all(d.component == "consumer" for d in dead)
    reasons = " | ".join(d.reason for d in dead)
    assert "bad JSON" in reasons and "symbol" in reasons and "missing field" in reasons
    assert dead[0].original == "{not json" and dead[0].source_topic == "file:signals.jsonl"
    # The same file again: nothing is decided twice.
    again = run(consume, "--from", str(path))
    assert "approved 0" in again.output and "duplicates 2" in again.output
    assert len([o for o in h.orders() if o.status.value == "filled"]) == 1


def test_malformed_topic_records_go_to_dead_letter_and_the_service_goes_on(h):
    h.settings()
    h.publish_signals([b"[]", line(signal_id="ok", bar_time=IN_SESSION),
                       line(signal_id="neg", price=-3, bar_time=IN_SESSION)])
    result = run(consume, "--once")
    assert result.exit_code == 0 and "approved 1" in result.output
    assert [d.reason for d in h.dead_letters()][1] == "price: must be positive"
    assert [d.source_topic for d in h.dead_letters()] == ["trading-signals"] * 2


def test_kill_and_resume_commands(h, settings, tmp_path):
    h.settings()
    result = run(consume, "kill", "--reason", "halt all")
    assert result.exit_code == 0 and "ENGAGED" in result.output
    state = kill_switch_state(settings)
    assert state.engaged and state.reason == "halt all" and state.path.endswith("KILL")
    assert json.loads(run(consume, "status").output)["kill_switch"]["engaged"] is True

    path = tmp_path / "s.jsonl"
    path.write_bytes(line(signal_id="k-1", bar_time=IN_SESSION) + b"\n")
    assert "kill_switch 1" in run(consume, "--from", str(path)).output
    assert not [o for o in h.orders()]

    assert run(consume, "resume").exit_code == 0
    assert not kill_switch_state(settings).engaged
    path.write_bytes(line(signal_id="k-2", bar_time=IN_SESSION) + b"\n")
    assert "approved 1" in run(consume, "--from", str(path)).output


def test_a_hand_made_kill_file_counts(h, settings):
    h.settings()
    settings.path().mkdir(parents=True, exist_ok=True)
    settings.path("KILL").write_text("market gone wild")
    state = kill_switch_state(settings)
    assert state.engaged and state.reason == "market gone wild"


def test_audit_list_and_export(h, tmp_path):
    h.settings()
    path = tmp_path / "s.jsonl"
    path.write_bytes(line(signal_id="a-1", bar_time=IN_SESSION) + b"\n"
                     + line(signal_id="a-2", symbol="MSFT", bar_time=IN_SESSION,
                            confidence=0.1) + b"\n"
                     + bar("AAPL", IN_SESSION + timedelta(minutes=1), 100.0) + b"\n")
    run(consume, "--from", str(path))

    listed = run(audit, "list", "--symbol", "MSFT").output
    assert "a-2" in listed and "min_confidence" in listed and "a-1" not in listed
    decisions = run(audit, "list", "--kind", "decision", "--since", "1h").output.splitlines()
    assert len(decisions) == 2
    assert "no matching events" in run(audit, "list", "--since", "2999-01-01T00:00:00Z").output

    out = tmp_path / "audit.csv"
    assert run(audit, "export", "--format", "csv", "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    kinds = {r["kind"] for r in rows}
    assert {"signal", "decision", "order_request", "broker_response", "fill"} <= kinds
    jsonl = run(audit, "export", "--format", "jsonl", "--kind", "fill").output.splitlines()
    fill = json.loads(jsonl[0])
    assert fill["signal_id"] == "a-1" and fill["detail"]["filled_qty"] == 20


def test_audit_trail_is_append_only(h):
    import sqlite3

    import pytest

    c = h.consumer()
    c.handle_raw(line(bar_time=IN_SESSION))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        c.store.execute("DELETE FROM events")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        c.store.execute("UPDATE events SET kind='x'")


def test_consume_topic_mode_on_alpaca_logs_no_secret(h, alpaca, slack, caplog, capsys):
    from tests.consumer.conftest import KEY_ID, SECRET, SLACK_TOKEN

    h.alpaca(alpaca)
    h.slack(slack)
    h.settings()
    h.publish_signals([line(signal_id="sec-1"), b"garbage", line(signal_id="sec-2", symbol="MSFT",
                                                                 confidence=0.1)])
    alpaca.fail("POST", "/v2/orders", 500)  # errors are where secrets usually leak
    slack.fail("POST", "/api/chat.postMessage", 500)
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(consume, ["--once"], catch_exceptions=False)
    assert "approved 1" in result.output, result.output
    assert len(alpaca.orders) == 1 and slack.calls("POST")  # the token was used
    captured = capsys.readouterr()
    everything = [caplog.text, result.output, captured.out, captured.err]
    data = h.data
    everything += [p.read_bytes().decode("utf-8", "replace") for p in data.rglob("*") if p.is_file()]
    for text in everything:
        for secret in (KEY_ID, SECRET, SLACK_TOKEN):
            assert secret not in text


def test_every_command_explains_itself():
    for cmd, args in ((consume, []), (consume, ["kill"]), (consume, ["resume"]),
                      (consume, ["status"]), (audit, []), (audit, ["list"]), (audit, ["export"])):
        result = CliRunner().invoke(cmd, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_alpaca_without_keys_is_a_clear_error(h):
    h.settings()
    result = CliRunner().invoke(consume, ["--broker", "alpaca", "--once"])
    assert result.exit_code == 1 and "APCA_API_KEY_ID" in result.output


@pytest.mark.integration
def test_each_decision_is_said_once(h, tmp_path):
    """On the terminal the console notifier says each decision; the log does not repeat it."""
    import os
    import subprocess
    import sys

    settings, _ = h.settings()
    path = tmp_path / "signals.jsonl"
    path.write_bytes(b"\n".join([
        line(signal_id="o-1", bar_time=IN_SESSION),
        line(signal_id="o-2", symbol="MSFT", bar_time=IN_SESSION, confidence=0.2),
        bar("AAPL", IN_SESSION + timedelta(minutes=1), 100.0),
    ]) + b"\n")
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(settings.data_dir),
           "TRADEFLOW_LOG_LEVEL": "INFO"}
    out = subprocess.run([sys.executable, "-m", "tradeflow.cli", "consume", "--from", str(path),
                          "--once"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert text.count("min_confidence") == 2, text  # the veto line and the summary's count
    assert sum("MSFT" in ln for ln in text.splitlines()) == 1, text
    assert sum("AAPL" in ln and "buy" in ln.lower() for ln in text.splitlines()
               if "FILLED" not in ln) == 1, text


def test_audit_mistakes_are_one_line(h, tmp_path):
    h.settings()
    h.consumer().handle_raw(line(signal_id="a-1", bar_time=IN_SESSION))
    far = CliRunner().invoke(audit, ["list", "--since", "99999999d"])
    assert far.exit_code == 2 and "reaches back before the year 1" in far.output
    assert "Traceback" not in far.output
    nowhere = CliRunner().invoke(audit, ["export", "-o", str(tmp_path / "no" / "such" / "x")])
    assert nowhere.exit_code == 1 and "Traceback" not in nowhere.output
    assert nowhere.output.strip() == (f"Error: cannot write {tmp_path / 'no' / 'such' / 'x'}: "
                                      "No such file or directory")


def test_an_unwritable_data_dir_is_one_line(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TRADEFLOW_DATA_DIR", str(blocker / "data"))
    from tradeflow.config import get_consumer_settings, get_settings
    get_settings.cache_clear()
    get_consumer_settings.cache_clear()
    try:
        result = CliRunner().invoke(consume, ["--once"])
    finally:
        get_settings.cache_clear()
        get_consumer_settings.cache_clear()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (f"Error: cannot write the consumer's state in "
                                     f"{(blocker / 'data').resolve()}: Not a directory")


def test_a_corrupt_consumer_database_is_one_line_in_every_command(h, settings):
    from tradeflow.cli import cli
    db = h.consumer().store.path
    h.close()
    db.write_bytes(b"not a database, but a file someone overwrote " * 100)
    for wal in db.parent.glob(db.name + "-*"):  # SQLite's side files go with it
        wal.unlink()
    for args in (["consume", "--once"], ["audit", "list"], ["parity"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and "Traceback" not in result.output, (args, result.output)
        assert result.output.strip() == (f"Error: {db}: cannot read the consumer's database (file "
                                         "is not a database); move it away to start afresh (it "
                                         "holds the audit trail and the open orders)"), args
