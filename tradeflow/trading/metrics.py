"""Prometheus metrics of the trading engine, in the process's default registry (served by the
consumer's `--metrics-port`)."""

from __future__ import annotations

from prometheus_client import Histogram

# The end-to-end latency the pipeline is tuned for: a bar's end to the decision on its signal.
SIGNAL_AGE = Histogram(
    "tradeflow_signal_age_at_decision_seconds",
    "Wall-clock time from the end of a signal's bar to the engine's decision on it.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0))
