"""Replay and backtest input: one row no reader can take is dead-lettered with file:line and
reason, and the other rows still go out. Nothing is accepted that a file does not mean."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.conftest import drain
from tradeflow.cli import cli
from tradeflow.contracts import DeadLetter, PriceBar, parse
from tradeflow.topics.file import FileBackend

NORMALIZED = "symbol,timestamp,open,high,low,close,volume"
LEAN = "symbol,bar_start_et,open,high,low,close,volume"
GOOD = {NORMALIZED: ["AAPL,2024-01-02T14:31:00Z,10,11,9,10.5,100",
                     "AAPL,2024-01-02T14:33:00Z,10,11,9,10.5,100"],
        LEAN: ["AAPL,2014-06-05 09:30:00,10,11,9,10.5,100",
               "AAPL,2014-06-05 09:32:00,10,11,9,10.5,100"]}


def replay_with_one_bad_row(settings, tmp_path, header: str, bad: str,
                            prefix: str = "") -> tuple[list[PriceBar], list[DeadLetter]]:
    """A file: header, good row, the bad row (line 3), good row; replayed on the file backend."""
    first, last = GOOD[header]
    path = tmp_path / "bars.csv"
    path.write_text(f"{prefix}{header}\n{first}\n{bad}\n{last}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["produce", "replay", "--prices", str(path)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    b = FileBackend(settings.path())
    bars = [parse(PriceBar, v) for v in drain(b, "stock-prices")]
    letters = [parse(DeadLetter, v) for v in drain(b, "dead-letter")]
    return bars, letters


# id: (header, the one bad row, what its dead letter's reason says)
BAD_ROWS = {
    "monstrous-field": (NORMALIZED, "AAPL,2024-01-02T14:32:00Z,10,11,9," + "1" * 200_000 + ",100",
                        "unreadable CSV row: field larger than field limit"),
    "date-out-of-range": (NORMALIZED, "AAPL,0001-01-01T00:00:00+01:00,10,11,9,10.5,100", "timestamp out of range"),
    "lean-plus-one-minute-overflow": (LEAN, "AAPL,9999-12-31 23:59:00,10,11,9,10.5,100", "time out of range"),
    "close-above-high": (NORMALIZED, "AAPL,2024-01-02T14:32:00Z,10,11,9,12,100", "close 12 outside [low 9, high 11]"),
    "open-below-low": (NORMALIZED, "AAPL,2024-01-02T14:32:00Z,8,11,9,10,100", "open 8 outside [low 9, high 11]"),
    "underscore-number": (NORMALIZED, "AAPL,2024-01-02T14:32:00Z,10,11,9,10,100_0", "volume is not a number: '100_0'"),
    "non-ascii-digits": (NORMALIZED, "AAPL,2024-01-02T14:32:00Z,10,11,9,10,١٠٠", "volume is not a number: '١٠٠'"),
    "lean-time-with-offset": (LEAN, "AAPL,2014-06-05 09:31:00-04:00,10,11,9,10.5,100", "bar_start_et carries its own offset"),
}


@pytest.mark.parametrize("header,bad,reason", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_bad_row_is_dead_lettered_and_the_rest_published(settings, tmp_path, header, bad, reason):
    bars, letters = replay_with_one_bad_row(settings, tmp_path, header, bad)
    assert len(bars) == 2 and {b.symbol for b in bars} == {"AAPL"}
    [letter] = letters
    assert letter.reason.startswith("bars.csv:3: ") and reason in letter.reason, letter.reason
    assert letter.component == "producer-replay" and letter.source_topic == "stock-prices"
    assert len(letter.original) < 5000  # a monstrous row is kept truncated
    assert letter.original[:20] == bad[:20]


def test_a_utf8_bom_before_the_header_is_read(settings, tmp_path):
    bars, letters = replay_with_one_bad_row(settings, tmp_path, NORMALIZED,
                                            "AAPL,2024-01-02T14:32:00Z,10,11,9,10.5,100",
                                            prefix="\ufeff")
    assert len(bars) == 3 and letters == []


def test_a_backtest_whose_every_row_is_invalid_writes_the_reasons(settings, tmp_path):
    # The input is read and validated before any Flink run, so this needs no Flink.
    path = tmp_path / "bad.csv"
    path.write_text(f"{NORMALIZED}\nAAPL,2024-01-02T14:31:00Z,10,11,9,12,100\n"
                    "AAPL,2024-01-02T14:32:00Z,10,11,9,10,100_0\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["backtest", "--signals-only", "--prices", str(path),
                                      "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no valid price bars" in result.output and "dead-letter.jsonl" in result.output
    reasons = [json.loads(line)["reason"] for line in (out / "dead-letter.jsonl").read_text().splitlines()]
    assert reasons == ["bad.csv:2: close 12 outside [low 9, high 11]",
                       "bad.csv:3: volume is not a number: '100_0'"]
