"""Fixtures for the indicator tests.

One Python process hosts one JVM (the py4j gateway); the TableEnvironments are session-scoped
so all tests share them and only the jobs themselves cost time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

pytest.importorskip("talib", reason="TA-Lib (the reference oracle for the indicators) is not installed")
pytest.importorskip("pyflink", reason="apache-flink is not installed")

from .indicator_harness import IndicatorRunner, assert_partitioned_by_symbol  # noqa: E402
from jobs.udf import ensure_udf_jar  # noqa: E402


@pytest.fixture(scope="session")
def udf_jar() -> Path:
    return ensure_udf_jar()


@pytest.fixture(scope="session")
def batch_runner(udf_jar: Path, tmp_path_factory: pytest.TempPathFactory) -> IndicatorRunner:
    return IndicatorRunner(streaming=False, jar=udf_jar, workdir=tmp_path_factory.mktemp("flink-batch"))


@pytest.fixture(scope="session")
def stream_runner(udf_jar: Path, tmp_path_factory: pytest.TempPathFactory) -> IndicatorRunner:
    return IndicatorRunner(streaming=True, jar=udf_jar, workdir=tmp_path_factory.mktemp("flink-stream"))


@pytest.fixture(scope="session")
def report() -> Callable[[str, dict[str, tuple[int, float]]], None]:
    """Print values compared and worst relative error per column (see them with -rP or -s)."""

    def _report(label: str, stats: dict[str, tuple[int, float]]) -> None:
        print(f"\n[{label}] non-null values compared / max relative difference vs talib:")
        for column, (count, worst) in stats.items():
            print(f"  {column:<12} {count:>6}  {worst:.1e}")

    return _report


@pytest.fixture(scope="session")
def streamed_at_parallelism_2(
        stream_runner: IndicatorRunner) -> Callable[[pd.DataFrame, pd.DataFrame, str], pd.DataFrame]:
    """Stream `prices` at parallelism 2 and assert that both subtasks got symbols and that the rows
    equal `expected` (row order aside; `what` names it in the failure). Returns the streamed rows."""

    def _run(prices: pd.DataFrame, expected: pd.DataFrame, what: str) -> pd.DataFrame:
        streamed = stream_runner.run(prices, parallelism=2)
        assert_partitioned_by_symbol(streamed, subtasks=2)
        key = ["symbol", "event_time"]
        a = expected.sort_values(key).reset_index(drop=True)
        b = streamed.sort_values(key).reset_index(drop=True)
        assert a.equals(b), f"parallelism-2 streaming output differs from {what}"
        return streamed

    return _run
