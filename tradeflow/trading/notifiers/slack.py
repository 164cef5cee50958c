"""Notifications to a Slack channel with Block Kit messages (`slack_sdk.WebClient`).

Each call has a bounded timeout and no library retries. After a failure Slack is skipped for
`pause_seconds` (each skipped message is logged), so a Slack outage costs one timeout, not one
per message. Failures raise here; `Guarded` logs them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tradeflow.alpaca_data import retry_after_seconds
from tradeflow.contracts import Order, OrderStatus, TradingSignal, to_wire_time
from tradeflow.logs import mask, mask_data

from ..killswitch import KillState
from ..risk import Decision
from .base import Notifier

log = logging.getLogger(__name__)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fields(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_esc(v)}"} for k, v in pairs]}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _esc(text)}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def decision_blocks(sig: TradingSignal, d: Decision, order: Order | None) -> list[dict[str, Any]]:
    signal_fields = (("Signal", f"{sig.action.value} {sig.strength.value}"),
                     ("Price", f"{sig.price:g}"), ("Confidence", f"{sig.confidence:.2f}"),
                     ("Strategy", f"{sig.strategy} {sig.strategy_version}"))
    if d.approved and order is not None:
        head = f":large_green_circle: {order.side.value.upper()} {order.qty:g} {sig.symbol}"
        outcome = _fields(("Order", f"{order.order_type}, {order.status.value}"),
                          ("Client order id", order.client_order_id))
    else:
        head = f":no_entry: Vetoed {sig.action.value} {sig.symbol}"
        outcome = _fields(("Rule", d.rule), ("Why", d.reason))
    return [_header(head), _fields(*signal_fields), outcome,
            {"type": "section", "text": {"type": "mrkdwn", "text": f"_{_esc(sig.reason[:500])}_"}},
            _context(f"signal {sig.signal_id} · bar {to_wire_time(sig.bar_time)}")]


def order_blocks(order: Order) -> list[dict[str, Any]]:
    icon = {OrderStatus.filled: ":white_check_mark:",
            OrderStatus.partially_filled: ":hourglass_flowing_sand:"}.get(order.status, ":x:")
    price = f" @ {order.filled_avg_price:g}" if order.filled_avg_price else ""
    head = (f"{icon} {order.status.value.replace('_', ' ').title()}: {order.side.value.upper()} "
            f"{order.filled_qty:g}/{order.qty:g} {order.symbol}{price}")
    blocks = [_header(head), _fields(("Broker", order.broker),
                                     ("Broker order id", order.broker_order_id or "none"))]
    if order.detail:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _esc(order.detail)}})
    blocks.append(_context(f"{order.client_order_id} · signal {order.signal_id}"))
    return blocks


def kill_blocks(state: KillState) -> list[dict[str, Any]]:
    if state.engaged:
        return [_header(":octagonal_sign: Kill switch engaged: no new orders"),
                _fields(("Reason", state.reason), ("Since", state.since or "")),
                _context(state.path)]
    return [_header(":arrow_forward: Kill switch released: trading resumes"), _context(state.path)]


class SlackError(RuntimeError):
    """Slack answered with an error (the message names the HTTP status and Slack's error)."""


class SlackNotifier(Notifier):
    name = "slack"

    def __init__(self, token: str, channel: str, base_url: str = "https://slack.com/api/",
                 timeout: float = 5.0, pause_seconds: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        # No retry handlers: a retry would stretch the bound on how long a message can take.
        self.client = WebClient(token=token, base_url=base_url.rstrip("/") + "/",
                                timeout=timeout,  # type: ignore[arg-type]  (urllib takes floats)
                                retry_handlers=[])
        self.channel = channel
        self.pause_seconds = pause_seconds
        self.monotonic = monotonic
        self._paused_until = 0.0

    def _post(self, text: str, blocks: list[dict[str, Any]]) -> None:
        # Masked where the message leaves: an order's detail or a veto's reason may quote a
        # broker's error, and that may quote a secret.
        text, blocks = mask(text), mask_data(blocks)
        now = self.monotonic()
        if now < self._paused_until:
            log.warning("slack paused after a failure (%.0fs left): not sent: %s",
                        self._paused_until - now, text)
            return
        try:
            self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks)
        except SlackApiError as err:
            status, error = err.response.status_code, err.response.get("error", "")
            headers = {k.lower(): v for k, v in (err.response.headers or {}).items()}
            hinted = headers.get("retry-after")
            retry_after = (retry_after_seconds(hinted[0] if isinstance(hinted, list) else hinted)
                           or 0.0) if status == 429 else 0.0  # seconds, a date, or nonsense
            self._paused_until = self.monotonic() + max(self.pause_seconds, retry_after)
            # Slack's error text is quoted from outside (an error page can echo the token).
            raise SlackError(mask(f"HTTP {status} {error or 'error'}".strip())) from None
        except Exception:
            self._paused_until = self.monotonic() + self.pause_seconds
            raise

    def decision(self, sig: TradingSignal, decision: Decision, order: Order | None) -> None:
        verb = f"{order.side.value} {order.qty:g}" if decision.approved and order else "vetoed"
        self._post(f"{sig.action.value} {sig.symbol}: {verb} ({decision.rule})",
                   decision_blocks(sig, decision, order))

    def order_update(self, order: Order) -> None:
        self._post(f"order {order.status.value}: {order.side.value} {order.qty:g} {order.symbol}",
                   order_blocks(order))

    def kill_switch(self, state: KillState) -> None:
        self._post("kill switch " + ("engaged" if state.engaged else "released"),
                   kill_blocks(state))
