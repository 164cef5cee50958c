"""Prometheus metrics of the trading engine, in the process's default registry (served by the
consumer's and the local Lambda runner's `--metrics-port`, tradeflow/observability.py)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# The end-to-end latency the pipeline is tuned for: a bar's end to the decision on its signal.
SIGNAL_AGE = Histogram(
    "tradeflow_signal_age_at_decision_seconds",
    "Wall-clock time from the end of a signal's bar to the engine's decision on it.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0))
SIGNALS_HANDLED = Counter(
    "tradeflow_signals",
    "Signals handled, by decision (approved, vetoed, duplicate, dead_letter, error) and the risk "
    "decision's rule (the one that vetoed, `approved` when none did, '' when none ran).",
    ["decision", "rule"])
ORDER_RECORDS = Counter(
    "tradeflow_orders", "Order records published, by the status they carry.", ["status"])
BROKER_ERRORS = Counter(
    "tradeflow_broker_errors",
    "Orders the broker failed or rejected (an audit `broker_error`), by broker.", ["broker"])
