"""JVM user-defined functions for the Flink job (indicator aggregates), built without Maven."""

from __future__ import annotations

from pathlib import Path


def ensure_udf_jar(force: bool = False) -> Path:
    """Path of build/tradeflow-udf.jar, compiled first if missing or older than a Java source.

    Raises ``jobs.udf.build.UdfBuildError`` when javac is missing or compilation fails.
    """
    # Imported here so `python -m jobs.udf.build` does not import the module twice.
    from .build import ensure_udf_jar as _ensure

    return _ensure(force)
