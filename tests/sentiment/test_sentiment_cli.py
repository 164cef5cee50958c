"""`tradeflow sentiment`: stdin to JSON lines, and --eval on PhraseBank-format files."""

from __future__ import annotations

import pytest

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tradeflow.sentiment.cli import sentiment

REPO = Path(__file__).resolve().parents[2]


def test_stdin_lines_become_json_lines_and_blank_lines_are_skipped() -> None:
    stdin = ("Net profit rose 20 % to EUR 4 mn.\n\n   \n"
             "Costs rose sharply.\nThe meeting is in May.\n")
    result = CliRunner().invoke(sentiment, [], input=stdin)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative", "neutral"]
    assert rows[0]["text"] == "Net profit rose 20 % to EUR 4 mn."
    assert set(rows[0]) == {"text", "score", "label"}
    assert all(-1 <= r["score"] <= 1 for r in rows)


def test_scorer_option_selects_vader() -> None:
    text = "Costs decreased by 12 percent.\n"
    finance = json.loads(CliRunner().invoke(sentiment, [], input=text).output)
    vader = json.loads(CliRunner().invoke(sentiment, ["--scorer", "vader"], input=text).output)
    assert finance["label"] == "positive"
    assert vader["label"] != "positive"


def test_unknown_scorer_is_a_usage_error() -> None:
    result = CliRunner().invoke(sentiment, ["--scorer", "finbert"], input="x\n")
    assert result.exit_code == 2
    assert "finance" in result.output and "vader" in result.output


def test_explain_lists_the_rules_that_fired() -> None:
    result = CliRunner().invoke(sentiment, ["--explain"], input="Costs fell 5 %.\n")
    row = json.loads(result.output)
    assert row["evidence"][0][0] == "change"


def _write_eval_file(tmp_path: Path) -> Path:
    lines = [
        "Operating profit rose to EUR 9 mn from EUR 6 mn .@positive",
        "Net sales fell 12 % in the quarter .@negative",
        "The company is headquartered in Espoo .@neutral",
        "Costs decreased by a tenth .@positive",
        "this line has no label at all",
        "Profit rose .@bullish",
        "@positive",
        "",
        "Caf\xe9 chain Ol\xe9 reported a net loss of EUR 2 mn .@negative",
    ]
    path = tmp_path / "mini.txt"
    path.write_bytes(("\n".join(lines) + "\n").encode("iso-8859-1"))
    return path


def test_eval_prints_accuracy_f1_confusion_and_counts_malformed(tmp_path: Path) -> None:
    path = _write_eval_file(tmp_path)
    result = CliRunner().invoke(sentiment, ["--eval", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "scorer=finance" in out and "n=5" in out and "malformed=3" in out
    assert "accuracy 1.0000" in out and "macro-F1 1.0000" in out
    assert "rows = true, columns = predicted" in out
    assert "baseline vader" in out


def test_eval_can_be_repeated_and_uses_the_chosen_scorer(tmp_path: Path) -> None:
    path = _write_eval_file(tmp_path)
    result = CliRunner().invoke(sentiment, ["--scorer", "vader", "--eval", str(path),
                                            "--eval", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("scorer=vader") == 2
    assert "baseline" not in result.output


@pytest.mark.integration
def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "tradeflow.sentiment", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--eval" in proc.stdout and "--scorer" in proc.stdout
