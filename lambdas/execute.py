"""The signal executor for Lambda: a Kinesis batch of trading signals through the shared engine.

The Lambda is triggered by an event source mapping on the `trading-signals` stream with
`ReportBatchItemFailures`. Each record goes through `SignalEngine.handle_raw` (risk manager,
executor, notifier, audit) with its state in DynamoDB (`DynamoStore`), so:

* a malformed record (not base64, not a contract-valid signal) is dead-lettered with its reason
  and counts as done: retrying it cannot help, and it must not hold up the shard;
* a signal already decided (a retry, a redelivery, or a concurrent worker that won the
  conditional write) is a duplicate: no second order; orders are also idempotent at the broker
  through `client_order_id`;
* an infrastructure failure (DynamoDB, Kinesis, Secrets Manager) stops the batch: that record and
  every later one are returned in `batchItemFailures`, so Lambda retries from there and the
  shard's order is kept (records before it are not processed again).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from tradeflow.config import SIGNALS, AwsSettings, ConsumerSettings, Settings
from tradeflow.topics import Backend, open_backend
from tradeflow.trading.clock import RiskClock, wall_now
from tradeflow.trading.engine import (CLOCK_KEY, SignalEngine, broker_of, clock_mode,
                                      make_executor, make_notifier)
from tradeflow.trading.executors.base import Executor
from tradeflow.trading.notifiers.base import Notifier

from lambdas.aws_secrets import SecretError, SecretsCache
from lambdas.dynamo_store import DynamoAudit, DynamoKillSwitch, DynamoStore, DynamoStoreError

log = logging.getLogger(__name__)
COMPONENT = "lambda-execute-signals"
INFRA_ERRORS = SignalEngine.infra_errors + (ClientError, BotoCoreError, DynamoStoreError,
                                            SecretError)


@dataclass
class Secrets:
    alpaca_key_id: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    slack_token: SecretStr | None = None
    slack_channel: str | None = None

    def fingerprint(self) -> str:
        """Changes when any value changes (a rotation), without keeping the values around."""
        parts = [v.get_secret_value() if isinstance(v, SecretStr) else str(v)
                 for v in (self.alpaca_key_id, self.alpaca_secret_key, self.slack_token,
                           self.slack_channel)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def values(self) -> list[str]:
        return [v.get_secret_value() for v in (self.alpaca_key_id, self.alpaca_secret_key,
                                               self.slack_token) if v is not None]


def read_secrets(cache: SecretsCache, aws: AwsSettings, need_alpaca: bool) -> Secrets:
    out = Secrets()
    if need_alpaca:
        alpaca = cache.get(aws.alpaca_secret_id, required=("key_id", "secret_key"))
        out.alpaca_key_id, out.alpaca_secret_key = alpaca["key_id"], alpaca["secret_key"]
    if aws.slack_secret_id:
        slack = cache.get(aws.slack_secret_id, required=("bot_token", "channel"))
        out.slack_token = slack["bot_token"]
        out.slack_channel = slack["channel"].get_secret_value()
    return out


def build_engine(shared: Settings, cs: ConsumerSettings, aws: AwsSettings, secrets: Secrets,
                 dynamodb: Any, *, backend: Backend | None = None,
                 executor: Executor | None = None, notifier: Notifier | None = None,
                 wall: Callable[[], datetime] = wall_now) -> SignalEngine:
    """The engine the settings describe, on DynamoDB state and the Kinesis backend."""
    updates: dict[str, Any] = {}
    if secrets.alpaca_key_id is not None:
        updates = {"apca_api_key_id": secrets.alpaca_key_id,
                   "apca_api_secret_key": secrets.alpaca_secret_key}
    shared = shared.model_copy(update=updates)
    if secrets.slack_token is not None:
        cs = cs.model_copy(update={"slack_bot_token": secrets.slack_token,
                                   "slack_channel": secrets.slack_channel})
    broker = executor.name if executor is not None else broker_of(shared, cs)
    mode = clock_mode(broker, cs)
    store = DynamoStore(dynamodb, aws.state_table, aws.audit_table,
                        processed_ttl_days=aws.processed_ttl_days,
                        audit_ttl_days=aws.audit_ttl_days)
    saved = store.get(CLOCK_KEY) if mode == "signal" else None
    latest = datetime.fromisoformat(saved.replace("Z", "+00:00")) if saved else None
    engine = SignalEngine(
        cs, backend or open_backend("kinesis", shared),
        executor or make_executor(broker, shared, cs), notifier or make_notifier(cs), store,
        DynamoKillSwitch(store),
        RiskClock(mode, wall, latest, max_ahead=cs.risk_max_clock_skew_seconds),
        secrets=secrets.values(),
        wall=wall, audit=DynamoAudit(store, secrets.values()), component=COMPONENT)
    engine.infra_errors = INFRA_ERRORS
    log.info("executor: broker %s, risk clock %s, notifications %s, state %s", broker, mode,
             "slack" if cs.slack_enabled else "log", store.path)
    return engine


def _decode(record: dict[str, Any]) -> bytes:
    data = record["kinesis"]["data"]
    if not isinstance(data, str):
        raise ValueError("kinesis.data is not a string")
    return base64.b64decode(data, validate=True)


def process_event(engine: SignalEngine, event: Any) -> dict[str, list[dict[str, str]]]:
    """Run every record of a Kinesis event; returns the `batchItemFailures` response."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        # Nothing to retry and nothing to attribute it to: say so, do not crash the function.
        log.error("execute: not a Kinesis event (no Records list); ignored: %.300s",
                  json.dumps(event, default=str))
        return {"batchItemFailures": []}
    engine.check_kill_switch()
    try:
        engine.refresh_orders(force=True)  # orders left open or unknown by earlier invocations
    except INFRA_ERRORS as err:
        log.warning("execute: could not refresh open orders (%s); next invocation will", err)
    failures: list[dict[str, str]] = []
    for i, record in enumerate(records):
        seq = _sequence(record)
        try:
            try:
                raw = _decode(record)
            except (KeyError, TypeError, ValueError, binascii.Error) as err:
                engine.dead.send(json.dumps(record, default=str)[:100_000],
                                 f"malformed Kinesis record: {type(err).__name__}: {err}", SIGNALS)
                engine.stats["dead_letter"] += 1
                continue
            engine.handle_raw(raw, SIGNALS)
        except INFRA_ERRORS as err:
            log.error("execute: record %s failed (%s); it and the %d after it will be retried",
                      seq, err, len(records) - i - 1)
            failures = [{"itemIdentifier": s} for s in map(_sequence, records[i:]) if s]
            break
    return {"batchItemFailures": failures}


def _sequence(record: Any) -> str:
    try:
        return str(record["kinesis"]["sequenceNumber"])
    except (KeyError, TypeError):
        return ""
