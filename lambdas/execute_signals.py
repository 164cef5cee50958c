"""Lambda: trading signals from the `trading-signals` Kinesis stream -> risk -> order -> notify.

Handler: `lambdas.execute_signals.handler`, behind an event source mapping with
`ReportBatchItemFailures`. The logic is `lambdas.execute`; see there.
"""

from __future__ import annotations

from typing import Any

from lambdas.runtime import runtime


def handler(event: Any, context: Any) -> dict[str, Any]:
    return runtime().execute(event)
