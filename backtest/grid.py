"""The parameter sets of a backtest's bounded runs (light: no pandas, so that `tradeflow
backtest` can start its job workers before it loads the rest).

Run 0 is strategy.toml with the --param overrides; with --walk-forward, every point of the grid
that differs from it is a run of its own.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .workers import JobWorkers, topics_dir

DEFAULT_GRID: dict[str, list[Any]] = {"rsi_oversold": [30, 35], "rsi_overbought": [70, 65]}


def default_params() -> dict[str, Any]:
    from jobs.sql_loader import flat_params, load_strategy

    return flat_params(load_strategy())


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def grid_points(grid: Mapping[str, Sequence[Any]], params: Mapping[str, Any],
                defaults: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The grid's points, each a full set of the grid's parameters over the fixed `params`;
    refuses names strategy.toml does not have, a parameter without values and text where
    strategy.toml has a number."""
    unknown = sorted((set(grid) | set(params)) - set(defaults))
    if unknown:
        raise ValueError(f"unknown strategy parameter(s): {', '.join(unknown)}")
    empty = sorted(k for k, values in grid.items() if not values)
    if empty:
        raise ValueError(f"no values in the grid for: {', '.join(empty)}")
    for name, values in [*grid.items(), *((k, [v]) for k, v in params.items())]:
        wrong = [v for v in values if _is_number(defaults[name]) and not _is_number(v)]
        if wrong:  # caught here, not as a Flink SQL error minutes later
            raise ValueError(f"{name} takes a number, not {wrong[0]!r}")
    return [{**params, **point} for point in expand_grid(grid)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class RunPlan:
    param_sets: list[dict[str, Any]]  # one per bounded run
    grid: list[dict[str, Any]]  # the walk-forward grid's points (none without walk-forward)
    grid_run: list[int]  # the run of each grid point
    defaults: dict[str, Any]  # strategy.toml's parameters with the overrides


def plan_runs(params: Mapping[str, Any], grid: Mapping[str, Sequence[Any]] | None) -> RunPlan:
    """The runs of a backtest with `params` overridden and, for a walk-forward, `grid`."""
    defaults = default_params()
    points = grid_points(grid or {}, params, defaults)  # refuses unknown --param names too
    points = points if grid is not None else []
    defaults.update(params)
    param_sets: list[dict[str, Any]] = [dict(params)]
    grid_run: list[int] = []
    for g in points:
        if all(defaults[k] == v for k, v in g.items()):
            grid_run.append(0)
        else:
            grid_run.append(len(param_sets))
            param_sets.append({**params, **g})
    return RunPlan(param_sets, points, grid_run, defaults)


@dataclass
class Started:
    """A backtest's runs, their held workers started, in `work` (see workers.JobWorkers)."""

    plan: RunPlan
    work: Path
    workers: JobWorkers


def start_runs(out: Path, params: Mapping[str, Any], grid: Mapping[str, Sequence[Any]] | None,
               indicators: bool, max_parallel: int, parallelism: int) -> Started:
    """Plan the runs and start their workers, held until the input is written to
    `out`/.work/topics (they bring up their JVMs and define their jobs meanwhile)."""
    plan = plan_runs(params, grid)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    workers = JobWorkers(topics_dir(work), work, plan.param_sets,
                         indicators_for=0 if indicators else None, max_parallel=max_parallel,
                         parallelism=parallelism, hold=True)
    return Started(plan, work, workers)
