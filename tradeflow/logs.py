"""Logging for every component: one format, and secrets masked before anything is written."""

from __future__ import annotations

import logging
import os
import re

# Values of these variables must never reach a log line, even if some library prints them.
SECRET_ENV = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "SLACK_BOT_TOKEN",
              "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_TOKEN_RE = re.compile(r"xox[abprs]-[A-Za-z0-9-]{6,}")


class RedactSecrets(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets = [v for k in SECRET_ENV if len(v := os.environ.get(k, "")) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = _TOKEN_RE.sub("xox?-***", text)
        for s in self.secrets:
            clean = clean.replace(s, "***")
        if clean != text:
            record.msg, record.args = clean, None
        return True


def setup_logging(level: str = "INFO", component: str = "tradeflow") -> logging.Logger:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)-7s " + component + " %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "botocore", "urllib3", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(component)
