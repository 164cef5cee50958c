"""Logging for every component: one format, and secrets masked before anything is written.

`mask(text)` is the one masking step for every string that leaves the process: log lines
(message and traceback, through `MaskingFormatter` and the record factory `install_masking`
puts in place, so handlers we do not own, such as Lambda's or pytest's, get masked records
too), topic records, the audit and order records of the stores, and notifications. The secrets
it knows are the values of the `SECRET_ENV` variables (read at each call, so a rotated key is
covered) and every value given to `register_secrets` (settings' SecretStr values, secrets read
from AWS Secrets Manager). Each is replaced by `***`, as written, JSON-escaped and URL-encoded,
since an error page may quote a request in any of those forms. Values shorter than 6 characters
are not masked (they would mangle ordinary text).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

# Values of these variables must never reach a log line, even if some library prints them.
SECRET_ENV = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "SLACK_BOT_TOKEN",
              "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_TOKEN_RE = re.compile(r"xox[abprs]-[A-Za-z0-9-]{6,}")
MIN_SECRET_LEN = 6
MASK = "***"

_REGISTERED: set[str] = set()
_LOCK = threading.Lock()


def register_secrets(*values: Any) -> None:
    """Make `mask` replace these values from now on (str or pydantic SecretStr; None and short
    values are ignored). Registration is for the life of the process."""
    found = set()
    for v in values:
        if v is None:
            continue
        text = v.get_secret_value() if hasattr(v, "get_secret_value") else str(v)
        if len(text) >= MIN_SECRET_LEN:
            found.add(text)
    if found:
        with _LOCK:
            _REGISTERED.update(found)


def register_settings(*models: Any) -> None:
    """Register every SecretStr field of these settings (pydantic models), set or not."""
    for m in models:
        for name in type(m).model_fields:
            value = getattr(m, name, None)
            if hasattr(value, "get_secret_value"):
                register_secrets(value)


def known_secrets() -> list[str]:
    """Every secret `mask` replaces, longest first (so a secret containing another goes whole)."""
    values = {v for k in SECRET_ENV if len(v := os.environ.get(k, "")) >= MIN_SECRET_LEN}
    with _LOCK:
        values |= _REGISTERED
    return sorted(values, key=len, reverse=True)


def _forms(secret: str) -> list[str]:
    forms = [secret]
    for other in (json.dumps(secret)[1:-1], quote(secret, safe=""), quote(secret)):
        if other not in forms:
            forms.append(other)
    return forms


def mask(text: str) -> str:
    """`text` with every known secret (and anything shaped like a Slack token) replaced."""
    if not text:
        return text
    for s in known_secrets():
        for form in _forms(s):
            if form in text:
                text = text.replace(form, MASK)
    return _TOKEN_RE.sub("xox?-***", text)


def mask_data(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with `mask` applied to every string in it."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask_data(k): mask_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(v) for v in value]
    return value


def mask_bytes(value: bytes) -> bytes:
    """A UTF-8 record (a topic's JSON) with `mask` applied."""
    text = value.decode("utf-8", errors="surrogateescape")
    clean = mask(text)
    return value if clean == text else clean.encode("utf-8", errors="surrogateescape")


class RedactSecrets(logging.Filter):
    """Masks a record's message (for handlers whose formatter is not `MaskingFormatter`)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        super().__init__()
        register_secrets(*extra)

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record)
        return True


class MaskingFormatter(logging.Formatter):
    """A Formatter whose whole output (message, traceback, stack) goes through `mask`."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return mask(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return mask(super().formatStack(stack_info))


def _mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record in place: its message, and its traceback (formatted once, here, into
    `exc_text`, which every `logging.Formatter` prints instead of formatting `exc_info`)."""
    try:
        text = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: leave it to logging's own report
        return record
    clean = mask(text)
    if clean != text:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = mask(record.exc_text)
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    return record


_factory_installed = False


def install_masking() -> None:
    """Mask every log record when it is made, whoever handles it afterwards (once per process)."""
    global _factory_installed
    with _LOCK:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return _mask_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _factory_installed = True


def setup_logging(level: str = "INFO", component: str = "tradeflow") -> logging.Logger:
    install_masking()
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter(
        "%(asctime)s %(levelname)-7s " + component + " %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "botocore", "urllib3", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(component)
