"""strategy.toml: the strategy's parameters, read by the job, the backtest and the dashboard
(which draws the same indicators with the same periods)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

STRATEGY_PATH = Path(__file__).resolve().parents[1] / "strategy.toml"


# Parameters that choose between variants of a rule: the SQL compares them with these names, so a
# misspelt value would silently match none of them. Checked wherever parameters are read.
CHOICES: dict[str, tuple[str, ...]] = {
    "exit_mode": ("percent", "atr"),
    **{f"{setup}_setup": ("on", "off") for setup in ("rsi", "cross", "macd", "band")},
}
# Multiples the SQL scales a price distance by: a positive number each.
POSITIVE = ("stop_loss_atr", "take_profit_atr")


class StrategyError(ValueError):
    """A strategy parameter has a value the SQL cannot use (one line, naming the key)."""


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
