"""Per-container wiring of the Lambda handlers: settings, clients, secrets, the engine.

A warm container reuses what it built (boto3 clients, the secrets cache, the Alpaca client, the
signal engine); the secrets are read again after TRADEFLOW_SECRET_CACHE_SECONDS, and the engine
or data client is rebuilt only when a secret's value changed (a rotation). The same code runs on
AWS and locally against a moto server (`AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from tradeflow.alpaca_data import AlpacaDataClient
from tradeflow.config import AwsSettings, ConsumerSettings, Settings
from tradeflow.deadletter import DeadLetters
from tradeflow.logs import RedactSecrets, install_masking
from tradeflow.topics import open_backend
from tradeflow.trading.engine import SignalEngine, broker_of

from lambdas.aws_secrets import SecretsCache, aws_client, install_log_mask
from lambdas.execute import Secrets, build_engine, process_event, read_secrets
from lambdas.ingest import IngestState, ingest_bars, ingest_news

log = logging.getLogger(__name__)


class Runtime:
    """Everything one container keeps between invocations."""

    def __init__(self) -> None:
        self.shared = Settings()
        self.aws = AwsSettings()
        self.consumer = ConsumerSettings()
        logging.getLogger().setLevel(self.shared.log_level.upper())
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())
        install_log_mask()
        install_masking()  # tracebacks too, whatever handler Lambda installed
        self.secrets = SecretsCache(aws_client("secretsmanager", self.shared),
                                    self.aws.secret_cache_seconds)
        self.dynamodb = aws_client("dynamodb", self.shared)
        self.backend = open_backend("kinesis", self.shared)
        self._data: tuple[str, AlpacaDataClient] | None = None
        self._engine: tuple[str, SignalEngine] | None = None

    # --- ingestion --------------------------------------------------------------------------
    def data_client(self) -> AlpacaDataClient:
        keys = self.secrets.get(self.aws.alpaca_secret_id, required=("key_id", "secret_key"))
        fp = Secrets(keys["key_id"], keys["secret_key"]).fingerprint()
        if self._data is None or self._data[0] != fp:
            if self._data is not None:
                self._data[1].close()
            # Few attempts: the schedule runs again in a minute, and Lambda time is billed.
            self._data = (fp, AlpacaDataClient(self.shared.apca_api_data_url, keys["key_id"],
                                               keys["secret_key"], timeout=10.0, attempts=3,
                                               backoff=0.5, max_wait=5.0))
        return self._data[1]

    def ingest(self, kind: str, event: Any) -> dict[str, Any]:
        symbols = _symbols(event, self.shared)
        state = IngestState(self.dynamodb, self.aws.ingest_table)
        dead = DeadLetters(self.backend, f"lambda-ingest-{kind}")
        if kind == "prices":
            result = ingest_bars(
                self.data_client(), self.backend, state, dead, symbols, feed=self.aws.alpaca_feed,
                lookback=timedelta(minutes=self.aws.bar_lookback_minutes),
                max_catchup=timedelta(minutes=self.aws.max_catchup_minutes))
        else:
            result = ingest_news(
                self.data_client(), self.backend, state, dead, symbols,
                lookback=timedelta(minutes=self.aws.news_lookback_minutes),
                seen_ttl=timedelta(days=self.aws.news_seen_ttl_days))
        summary = {"kind": kind, "symbols": symbols, **result.to_dict()}
        log.info("ingest %s: %s", kind, summary)
        return summary

    # --- execution --------------------------------------------------------------------------
    def engine(self) -> SignalEngine:
        need_alpaca = broker_of(self._keys_present(), self.consumer) == "alpaca"
        secrets = read_secrets(self.secrets, self.aws, need_alpaca)
        fp = secrets.fingerprint()
        if self._engine is None or self._engine[0] != fp:
            if self._engine is not None:
                self._engine[1].close()
            self._engine = (fp, build_engine(self.shared, self.consumer, self.aws, secrets,
                                             self.dynamodb, backend=self.backend))
        return self._engine[1]

    def _keys_present(self) -> Settings:
        """Settings as if the Alpaca keys were set, so `auto` means Alpaca (its keys live in
        Secrets Manager, not in the environment)."""
        from pydantic import SecretStr

        return self.shared.model_copy(update={"apca_api_key_id": SecretStr("from-secret"),
                                              "apca_api_secret_key": SecretStr("from-secret")})

    def execute(self, event: Any) -> dict[str, Any]:
        engine = self.engine()
        engine.stats.clear()
        response = process_event(engine, event)
        log.info("execute: %s; %d record(s) to retry", dict(engine.stats),
                 len(response["batchItemFailures"]))
        return response


def _symbols(event: Any, shared: Settings) -> list[str]:
    """The schedule's input may name symbols (`{"symbols": ["AAPL"]}`); else TRADEFLOW_SYMBOLS."""
    wanted = event.get("symbols") if isinstance(event, dict) else None
    if isinstance(wanted, str):
        wanted = wanted.split(",")
    if isinstance(wanted, list) and all(isinstance(s, str) for s in wanted) and wanted:
        return list(dict.fromkeys(s.strip().upper() for s in wanted if s.strip()))
    return shared.symbol_list


_RUNTIME: Runtime | None = None


def runtime() -> Runtime:
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = Runtime()
    return _RUNTIME


def reset() -> None:
    """Forget the container's state (tests; a new 'cold start')."""
    global _RUNTIME
    if _RUNTIME is not None and _RUNTIME._engine is not None:
        _RUNTIME._engine[1].close()
    _RUNTIME = None
