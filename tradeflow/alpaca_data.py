"""Alpaca's market-data API (bars and news): a small retrying client and the conversion of its
objects into the shared contracts. Used by the Alpaca producer (producers/alpaca.py) and by the
AWS ingestion Lambdas (lambdas/), which is why it lives in the shared package.

Why a small `requests` client: the two endpoints we need are plain GETs with a page token, and
what matters is explicit: tenacity around each page (not around a whole paginating iterator, where
a failure half-way would restart nothing we can see), exponential backoff with jitter, retries on
429, 5xx and network errors, `Retry-After` honoured, and a data URL from our own settings (so a
test stub can stand in for Alpaca). The order executor (tradeflow/trading/executors/alpaca.py)
sends its key headers with the same `AlpacaAuth` and reads `Retry-After` with the same function.

Secrets: the key id and secret stay `SecretStr` and only enter the outgoing headers (through a
requests auth hook, so the session never holds them in plain text). No log line or exception we
raise carries a header, and any server text we quote is scrubbed of both values first.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from tradeflow.contracts import SYMBOL_RE, ContractError, NewsItem, PriceBar, build

log = logging.getLogger(__name__)

SOURCE = "alpaca"
BAR = timedelta(minutes=1)
BARS_PAGE_LIMIT = 10_000  # Alpaca's maximum page size for bars
NEWS_PAGE_LIMIT = 50  # Alpaca's maximum page size for news
MAX_PAGES = 1_000  # a server that keeps handing out page tokens must not hold a poll forever


class AlpacaError(Exception):
    """Base of the errors this module raises. Messages never contain the key or the secret."""


class AlpacaAuthError(AlpacaError):
    """401/403: the keys are wrong or lack the permission (e.g. SIP data). Retrying cannot help."""


class AlpacaRequestError(AlpacaError):
    """Another 4xx: the request itself is wrong (bad symbol, feed, time). Retrying cannot help."""


class AlpacaUnavailable(AlpacaError):
    """Rate limits, 5xx or network errors that outlasted the retries. The next poll may succeed."""


class _Transient(Exception):
    """A response worth retrying; carries the server's Retry-After (seconds) when it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class AlpacaAuth(requests.auth.AuthBase):
    """Adds the key headers at send time, so the plain values live only in the outgoing request."""

    def __init__(self, key_id: SecretStr, secret: SecretStr) -> None:
        self._key_id, self._secret = key_id, secret

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["APCA-API-KEY-ID"] = self._key_id.get_secret_value()
        r.headers["APCA-API-SECRET-KEY"] = self._secret.get_secret_value()
        return r

    def __repr__(self) -> str:
        return "AlpacaAuth(***)"


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110); anything else is ignored."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class AlpacaDataClient:
    """GETs on Alpaca's market-data API with retries: 429/5xx/network errors back off and retry
    (honouring Retry-After), 401/403 raise AlpacaAuthError, other 4xx AlpacaRequestError."""

    def __init__(self, data_url: str, key_id: SecretStr, secret: SecretStr, *,
                 timeout: float = 10.0, attempts: int = 5, backoff: float = 1.0,
                 max_wait: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None) -> None:
        self.data_url = data_url.rstrip("/")
        self._secrets = [s.get_secret_value() for s in (key_id, secret) if s.get_secret_value()]
        self._session = session or requests.Session()
        self._session.auth = AlpacaAuth(key_id, secret)
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._max_wait = max_wait
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"AlpacaDataClient({self.data_url!r})"

    def close(self) -> None:
        self._session.close()

    def scrub(self, text: str) -> str:
        """`text` with the key id and secret replaced, for anything quoted from outside."""
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _wait(self, state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, _Transient) and err.retry_after is not None:
            return min(err.retry_after, self._max_wait)
        # Exponential with full jitter, so many producers hitting one limit do not retry in step.
        ceiling = min(self._max_wait, self._backoff * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _before_sleep(self, state: RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("alpaca: %s; retrying in %.1fs (attempt %d of %d)",
                    self.scrub(str(err)), wait, state.attempt_number + 1, self._attempts)

    def _get_once(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        url = self.data_url + path
        try:
            resp = self._session.get(url, params=params, timeout=self._timeout,
                                     allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as err:
            raise _Transient(f"GET {path}: {type(err).__name__}: {err}") from None
        status = resp.status_code
        if status == 429 or status >= 500:
            raise _Transient(f"GET {path}: HTTP {status}",
                             retry_after_seconds(resp.headers.get("Retry-After")))
        if status in (401, 403):
            raise AlpacaAuthError(self.scrub(
                f"Alpaca refused the credentials for {self.data_url} (HTTP {status}: "
                f"{self._server_message(resp)}). Check APCA_API_KEY_ID / APCA_API_SECRET_KEY, "
                "and that the account's data plan covers the requested feed."))
        if status != 200:
            raise AlpacaRequestError(self.scrub(
                f"GET {path}: HTTP {status}: {self._server_message(resp)}"))
        try:
            body = resp.json()
        except ValueError:
            raise _Transient(f"GET {path}: response is not JSON") from None
        if not isinstance(body, dict):
            raise _Transient(f"GET {path}: response is not a JSON object")
        return body

    def _server_message(self, resp: requests.Response) -> str:
        try:
            msg = resp.json().get("message") or resp.text
        except (ValueError, AttributeError):
            msg = resp.text
        return self.scrub(str(msg).strip().replace("\n", " ")[:200]) or resp.reason or "no detail"

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """One GET, retried; raises an AlpacaError subclass when it cannot be done."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts), wait=self._wait, sleep=self._sleep,
            retry=retry_if_exception_type(_Transient), before_sleep=self._before_sleep,
            reraise=True)
        try:
            return retrying(self._get_once, path, params)
        except _Transient as err:
            raise AlpacaUnavailable(
                f"{self.scrub(str(err))} (gave up after {self._attempts} attempts)") from None

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of a paginated endpoint, following `next_page_token`."""
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.get(path, {**params, "page_token": token} if token else params)
            yield page
            token = page.get("next_page_token")
            if not token:
                return
            if token in seen:
                raise AlpacaUnavailable(f"GET {path}: the server repeated page token {token!r}")
            seen.add(token)
        raise AlpacaUnavailable(f"GET {path}: more than {MAX_PAGES} pages in one poll")


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ContractError(f"{name}: expected an ISO-8601 string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ContractError(f"{name}: not an ISO-8601 time: {value!r}") from None
    if t.tzinfo is None:
        raise ContractError(f"{name}: timestamp has no time zone")
    return t.astimezone(timezone.utc)


def bar_from_alpaca(symbol: str, raw: Any) -> PriceBar:
    """An Alpaca bar (`t` = bar START) as a PriceBar stamped with the bar END; ContractError if bad."""
    if not isinstance(raw, dict):
        raise ContractError(f"bar is not an object: {type(raw).__name__}")
    missing = [k for k in ("t", "o", "h", "l", "c", "v") if k not in raw]
    if missing:
        raise ContractError(f"missing field '{missing[0]}'")
    return build(PriceBar, symbol=symbol, event_time=_time(raw["t"], "t") + BAR,
                 open=raw["o"], high=raw["h"], low=raw["l"], close=raw["c"], volume=raw["v"],
                 source=SOURCE)


def news_from_alpaca(raw: Any) -> NewsItem:
    """An Alpaca news object as a NewsItem, keeping only well-formed tickers; ContractError if bad."""
    if not isinstance(raw, dict):
        raise ContractError(f"news item is not an object: {type(raw).__name__}")
    news_id = raw.get("id")
    if isinstance(news_id, bool) or not isinstance(news_id, (int, str)) or news_id == "":
        raise ContractError(f"id: expected an integer, got {news_id!r}")
    tagged = raw.get("symbols")
    if not isinstance(tagged, list):
        raise ContractError(f"symbols: expected a list, got {tagged!r}")
    # Alpaca tags crypto pairs and foreign listings too; the pipeline only knows US tickers.
    symbols = list(dict.fromkeys(s for s in tagged if isinstance(s, str) and SYMBOL_RE.match(s)))
    if not symbols:
        raise ContractError(f"symbols: no valid ticker in {tagged!r}")
    return build(NewsItem, id=f"alpaca-{news_id}", symbols=symbols,
                 headline=raw.get("headline"), summary=raw.get("summary") or "",
                 source=raw.get("source") or SOURCE,
                 published_at=_time(raw.get("created_at"), "created_at"),
                 url=raw.get("url") or None)
