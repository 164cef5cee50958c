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
    assert "very-secret-value-123" not in out and "apca_api_secret_key = **" in out
