"""A stand-in for Slack's Web API `chat.postMessage` on 127.0.0.1, for tests.

Point `slack_sdk.WebClient(base_url=stub.url + "/api/")` at it (or `SLACK_API_URL`). It checks the
bearer token (answers `ok: false, invalid_auth` otherwise, as Slack does), records every message,
and takes the same faults as the Alpaca stub: an HTTP status (429 with Retry-After, 5xx), a
delay past the client's timeout, an `ok: false` error body, or `down()`. With `echo_credentials`,
every error (Slack's `error` field included) repeats the request's bearer token.
"""

from __future__ import annotations

from typing import Any

from .alpaca_trading import HTTPStub, Request


class SlackStub(HTTPStub):
    def __init__(self, token: str = "xoxb-stub-token-0000", channel: str = "#trading") -> None:
        super().__init__()
        self.token = token
        self.channel = channel

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Bodies of the messages Slack accepted."""
        return [r.body for r in self.calls("POST", "/api/chat.postMessage")
                if r.status == 200 and isinstance(r.body, dict) and r.body.get("_accepted")]

    def fault_body(self, status: int) -> Any:
        return {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}

    def credentials(self, req: Request) -> str:
        return f"Authorization: {req.headers.get('Authorization')}"

    def is_error(self, payload: Any) -> bool:
        return isinstance(payload, dict) and payload.get("ok") is False

    def echo(self, req: Request, payload: Any) -> Any:
        payload = super().echo(req, payload)
        if isinstance(payload, dict) and "error" in payload:
            payload["error"] = f"{payload['error']} ({payload['request_headers']})"
        return payload

    def handle(self, req: Request) -> tuple[int, Any]:
        if req.headers.get("Authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if req.method == "POST" and req.path == "/api/chat.postMessage":
            body = req.body if isinstance(req.body, dict) else {}
            if not body.get("channel"):
                return 200, {"ok": False, "error": "channel_not_found"}
            if not body.get("text") and not body.get("blocks"):
                return 200, {"ok": False, "error": "no_text"}
            body["_accepted"] = True
            return 200, {"ok": True, "channel": "C0STUB", "ts": f"{len(self.requests)}.000100",
                         "message": {"text": body.get("text", "")}}
        return 404, {"ok": False, "error": "unknown_method"}
