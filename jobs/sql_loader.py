"""Read SQL files from sql/ and fill their ${placeholders} from strategy.toml."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

from tradeflow.strategy import (  # noqa: F401 - the job's parameters, re-exported for its modules
    CHOICES,
    POSITIVE,
    STRATEGY_PATH,
    StrategyError,
    check_params,
    flat_params,
    load_strategy,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = REPO_ROOT / "sql"


class SqlTemplateError(KeyError):
    """A SQL file uses a ${placeholder} that no parameter provides."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0])


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
