"""Read SQL files from sql/ and fill their ${placeholders} from strategy.toml."""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = REPO_ROOT / "sql"
STRATEGY_PATH = REPO_ROOT / "strategy.toml"


# Parameters that choose between variants of a rule: the SQL compares them with these names, so a
# misspelt value would silently match none of them. Checked wherever parameters are read.
CHOICES: dict[str, tuple[str, ...]] = {"exit_mode": ("percent", "atr")}
# Multiples the SQL scales a price distance by: a positive number each.
POSITIVE = ("stop_loss_atr", "take_profit_atr")


class StrategyError(ValueError):
    """A strategy parameter has a value the SQL cannot use (one line, naming the key)."""


class SqlTemplateError(KeyError):
    """A SQL file uses a ${placeholder} that no parameter provides."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0])


def load_strategy(path: Path | None = None) -> dict[str, Any]:
    """strategy.toml (or ``path``) parsed into nested dicts, one per [section]."""
    with open(path or STRATEGY_PATH, "rb") as fh:
        return tomllib.load(fh)


def flat_params(strategy: dict[str, Any]) -> dict[str, Any]:
    """Placeholders are bare names, so every section's keys share one namespace."""
    flat: dict[str, Any] = {}
    for section, values in strategy.items():
        if not isinstance(values, dict):
            flat[section] = values
            continue
        for key, value in values.items():
            if key in flat:
                raise ValueError(f"strategy key {key!r} appears in more than one section")
            flat[key] = value
    check_params(flat)
    return flat


def check_params(values: dict[str, Any]) -> None:
    """Raise :class:`StrategyError` for a parameter whose value the SQL cannot use.

    Only the parameters present are checked, so a partial set (one file's) passes."""
    for key, allowed in CHOICES.items():
        if key in values and values[key] not in allowed:
            raise StrategyError(f"strategy parameter {key} must be one of "
                                f"{', '.join(map(repr, allowed))}, got {values[key]!r}")
    for key in (k for k in POSITIVE if k in values):
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise StrategyError(f"strategy parameter {key} must be a positive number, got {value!r}")


def render_sql(name: str, params: dict[str, Any] | None = None) -> str:
    """Text of ``sql/<name>`` with ``${key}`` replaced from ``params``.

    Without ``params`` the values come from strategy.toml (all sections). A placeholder with no
    value raises :class:`SqlTemplateError` naming the file and the placeholder.
    """
    path = SQL_DIR / name
    text = path.read_text(encoding="utf-8")
    values = flat_params(load_strategy()) if params is None else params
    check_params(values)  # overrides (a backtest's --params, a walk-forward grid) too
    try:
        return string.Template(text).substitute({k: str(v) for k, v in values.items()})
    except KeyError as err:
        raise SqlTemplateError(
            f"{path.relative_to(REPO_ROOT)} needs ${{{err.args[0]}}} but no such parameter was given "
            f"(known: {', '.join(sorted(values)) or 'none'})"
        ) from None


def split_statements(sql: str) -> list[str]:
    """The statements of a rendered SQL file, one string each, for ``execute_sql``.

    Whole-line ``--`` comments are dropped; a statement ends with ``;`` at the end of a line.
    """
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in re.split(r";[ \t]*(?:\n|$)", body) if stmt.strip()]
