"""Backtest and evaluation: the signal SQL run bounded over history (run.py), its signals executed
by the shared risk manager and paper broker at the next bar's open (execution.py), measured
(metrics.py, signal_quality.py, risk_figures.py), optionally walk-forward (walk_forward.py), and
reported as JSON and a self-contained HTML page (evaluate.py, report.py, svg.py). The bounded runs
happen in worker processes (workers.py)."""

