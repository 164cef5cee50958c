"""Secrets Manager reads for the Lambdas, cached per warm container, and kept out of logs.

A secret is a JSON object (e.g. `{"key_id": "...", "secret_key": "..."}`). Values come back as
`SecretStr`, are cached for `ttl` seconds (one read per cold start and per rotation window, not
per invocation) and are registered with a logging filter that masks them in every log line,
since `tradeflow.logs.RedactSecrets` only knows the values of environment variables.

Not `secrets.py`: with lambdas/ on sys.path (`python lambdas/package.py`) that would shadow the
standard library's `secrets`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from tradeflow.config import Settings
from tradeflow.logs import register_secrets

_MASKED: set[str] = set()
_LOCK = threading.Lock()


class SecretError(RuntimeError):
    """A secret is missing, unreadable or not the JSON object expected. Never carries a value."""


class MaskSecrets(logging.Filter):
    """Replaces every value read from Secrets Manager with *** in log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _MASKED:
            return True
        text = record.getMessage()
        clean = text
        for s in list(_MASKED):
            clean = clean.replace(s, "***")
        if clean != text:
            record.msg, record.args = clean, None
        return True


def install_log_mask() -> None:
    """Adds the mask to every handler of the root logger (Lambda's own included), once."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskSecrets) for f in handler.filters):
            handler.addFilter(MaskSecrets())


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client for `service` in the configured region, at AWS_ENDPOINT_URL when set."""
    return boto3.session.Session().client(
        service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url or None,
        config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5,
                      read_timeout=15))


class SecretsCache:
    def __init__(self, client: Any, ttl: float = 300.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, dict[str, SecretStr]]] = {}
        self.reads = 0  # calls made to Secrets Manager (tests check the caching)

    def get(self, secret_id: str, required: tuple[str, ...] = ()) -> dict[str, SecretStr]:
        now = self.monotonic()
        hit = self._cache.get(secret_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        values = self._read(secret_id)
        missing = [k for k in required if not values.get(k, SecretStr("")).get_secret_value()]
        if missing:
            raise SecretError(f"secret {secret_id!r} lacks {', '.join(missing)}")
        self._cache[secret_id] = (now, values)
        return values

    def _read(self, secret_id: str) -> dict[str, SecretStr]:
        self.reads += 1
        try:
            resp = self.client.get_secret_value(SecretId=secret_id)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            raise SecretError(f"cannot read secret {secret_id!r}: {code or e}") from None
        except BotoCoreError as e:
            raise SecretError(f"cannot read secret {secret_id!r}: {e}") from None
        try:
            data = json.loads(resp.get("SecretString") or "")
        except ValueError:
            raise SecretError(f"secret {secret_id!r} is not a JSON object") from None
        if not isinstance(data, dict):
            raise SecretError(f"secret {secret_id!r} is not a JSON object")
        out = {str(k): SecretStr(str(v)) for k, v in data.items() if v is not None}
        with _LOCK:
            _MASKED.update(v.get_secret_value() for v in out.values()
                           if len(v.get_secret_value()) >= 6)
        register_secrets(*out.values())  # for `tradeflow.logs.mask`: topics, audit, Slack
        return out
