"""Lambda: on an EventBridge schedule, publish new Alpaca news to `market-news` (Kinesis).

Handler: `lambdas.ingest_news.handler`. The logic is `lambdas.ingest`; see there.
"""

from __future__ import annotations

from typing import Any

from lambdas.runtime import runtime


def handler(event: Any, context: Any) -> dict[str, Any]:
    return runtime().ingest("news", event)
