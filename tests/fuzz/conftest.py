"""Fixtures the fuzz suite borrows from the dashboard tests (a file backend in a temporary data
dir), imported rather than copied so both suites build the dashboard the same way."""

from tests.dashboard.conftest import backend, data_settings

__all__ = ["backend", "data_settings"]
