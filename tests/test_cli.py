"""The `tradeflow` command explains itself, and the README's configuration table is complete."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from tests.conftest import REPO_ROOT
from tradeflow.cli import cli
from tradeflow.config import Settings, settings_markdown


def help_of(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_top_level_help_lists_every_subcommand():
    text = help_of()
    for name in ("run", "produce", "flink", "job", "backtest", "consume", "audit", "sentiment",
                 "dashboard", "config"):
        assert re.search(rf"^\s+{name}\s", text, re.M), name


@pytest.mark.parametrize("args", [("run",), ("produce",), ("produce", "sim"), ("produce", "replay"),
                                  ("produce", "alpaca"), ("flink",), ("flink", "start"),
                                  ("flink", "stop"), ("flink", "status"), ("job",), ("job", "submit"),
                                  ("backtest",), ("consume",), ("audit",), ("sentiment",),
                                  ("dashboard",), ("config",)])
def test_each_subcommand_explains_itself(args):
    text = help_of(*args)
    assert "Usage: " in text and len(text.splitlines()) >= 3


def test_backend_switch_is_validated():
    result = CliRunner().invoke(cli, ["--backend", "carrier-pigeon", "config"])
    assert result.exit_code == 2 and "carrier-pigeon" in result.output


def test_readme_documents_every_setting():
    readme = (REPO_ROOT / "README.md").read_text()
    for field in Settings.model_fields.values():
        assert f"`{field.validation_alias.choices[0]}`" in readme, field.validation_alias
    assert settings_markdown() in readme, "README config table is stale: run `tradeflow config --markdown`"


def test_config_masks_secrets(monkeypatch, settings):
    monkeypatch.setenv("APCA_API_SECRET_KEY", "very-secret-value-123")
    from tradeflow.config import get_settings
    get_settings.cache_clear()
    out = CliRunner().invoke(cli, ["config"]).output
    assert "very-secret-value-123" not in out and "\nAPCA_API_SECRET_KEY=**" in out


def test_config_shows_every_setting_of_every_service(settings):
    from tradeflow.config import SETTINGS_CLASSES

    lines = CliRunner().invoke(cli, ["config"]).output.splitlines()
    names = [line.partition("=")[0] for line in lines]
    expected = [f.validation_alias.choices[0] for model in SETTINGS_CLASSES
                for f in model.model_fields.values()]
    assert names == expected and len(names) > 60
    assert "TRADEFLOW_BACKEND=file" in lines and "TRADEFLOW_BAR_HOLD_SECONDS=1.0" in lines


def test_version():
    from importlib.metadata import version

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output == f"tradeflow, version {version('tradeflow')}\n"


@pytest.mark.integration
def test_dotenv_in_the_working_directory_comes_after_the_environment(tmp_path):
    """Precedence: flags, then the environment, then ./.env, then the defaults."""
    import os
    import subprocess
    import sys

    (tmp_path / ".env").write_text("TRADEFLOW_SYMBOLS=IBM,SPY\nTRADEFLOW_LOG_LEVEL=WARNING\n"
                                   "TRADEFLOW_BACKEND=kafka\nAPCA_API_SECRET_KEY=from-dotenv-123\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEFLOW_", "APCA_"))}
    env["TRADEFLOW_LOG_LEVEL"] = "ERROR"
    out = subprocess.run([sys.executable, "-m", "tradeflow.cli", "--backend", "file", "config"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert "TRADEFLOW_SYMBOLS=IBM,SPY" in lines  # from .env
    assert "TRADEFLOW_LOG_LEVEL=ERROR" in lines  # the environment wins over .env
    assert "TRADEFLOW_BACKEND=file" in lines  # the flag wins over both
    assert "APCA_API_SECRET_KEY=**********" in lines and "from-dotenv-123" not in out


@pytest.mark.parametrize("env,args,expected", [
    ({"TRADEFLOW_BACKEND": "kafak"}, ["config"],
     "Error: TRADEFLOW_BACKEND: Input should be 'file', 'kafka' or 'kinesis'"),
    ({"TRADEFLOW_LOG_LEVEL": "LOUD"}, ["config"], "Error: TRADEFLOW_LOG_LEVEL: not a log level"),
    ({"TRADEFLOW_KAFKA_PORT": "99999"}, ["produce", "sim", "--bars", "1"],
     "Error: TRADEFLOW_KAFKA_PORT: Input should be less than or equal to 65535"),
    ({"TRADEFLOW_SIZING_FRACTION": "lots"}, ["consume", "status"],
     "Error: TRADEFLOW_SIZING_FRACTION: Input should be a valid number"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(settings, monkeypatch, env, args, expected):
    from tradeflow.config import get_consumer_settings
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_consumer_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        get_consumer_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith(expected) and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("args,expected", [
    (["--symbols", "../x"], "Error: Invalid value for --symbols: not a ticker symbol"),
    (["--start", "0001-01-01T00:00:00Z"], "Error: Invalid value for '--start': "
                                          "'0001-01-01T00:00:00Z' is out of range"),
])
def test_bad_simulator_options_are_usage_errors(settings, args, expected):
    result = CliRunner().invoke(cli, ["produce", "sim", "--bars", "1", "--speed", "0", *args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == [line for line in result.output.splitlines() if line.strip()][-1:]
    assert errors[0].startswith(expected), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("value,expected", [
    ("6x", "'6x' is not earliest, latest or a look-back like 30m, 6h, 2d"),
    ("0h", "'0h' is not a duration like 90s, 30m, 6h or 2d"),
    ("99999999d", "99999999d reaches back before the year 1"),
])
def test_a_bad_dashboard_start_is_a_one_line_usage_error(settings, value, expected):
    result = CliRunner().invoke(cli, ["dashboard", "--start", value])
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == [line for line in result.output.splitlines() if line.strip()][-1:]
    assert errors[0] == f"Error: Invalid value for '--start': {expected}", result.output


@pytest.mark.integration
def test_dashboard_start_6h_reads_from_six_hours_back_and_says_so(tmp_path):
    """The real command, until it logs where it started reading."""
    import os
    import queue
    import subprocess
    import sys
    import threading
    from datetime import datetime, timedelta, timezone

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEFLOW_", "APCA_"))}
    env.update(TRADEFLOW_DATA_DIR=str(tmp_path / "data"), TRADEFLOW_BACKEND="file",
               TRADEFLOW_LOG_LEVEL="INFO")
    before = datetime.now(timezone.utc)
    proc = subprocess.Popen([sys.executable, "-m", "tradeflow.cli", "dashboard", "--port", "0",
                             "--start", "6h"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        while not (started := [x for x in seen if "records appended since" in x]):
            assert proc.poll() is None, "".join(seen)
            seen.append(lines.get(timeout=60))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    after = datetime.now(timezone.utc)
    m = re.search(r"records appended since (\S+) \(look-back 6h\)$", started[0].strip())
    assert m, started
    since = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))  # logged to the second
    assert before - timedelta(hours=6, seconds=1) <= since <= after - timedelta(hours=6)
