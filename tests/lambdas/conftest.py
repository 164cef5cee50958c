"""Fixtures for the Lambda tests: one moto server for the session (reset before each test), the
resources infra/terraform creates, secrets, and local stubs of Alpaca and Slack.

The handlers run exactly as deployed, with AWS_ENDPOINT_URL pointing at the moto server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests

from tools.aws_local import create_resources, lambda_event, put_secret
from tools.stubs.alpaca_data import AlpacaDataStub
from tools.stubs.alpaca_trading import AlpacaTradingStub
from tools.stubs.slack import SlackStub
from lambdas import runtime as aws_runtime
from tradeflow.config import get_consumer_settings, get_settings

REGION = "us-east-1"
KEY_ID, SECRET = "PKLAMBDAKEY0123456789", "lambda-secret-DO-NOT-LEAK-77"
SLACK_TOKEN = "xoxb-9999-lambda-slack-secret"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per moto request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Aws:
    endpoint: str
    session: Any

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)

    def event(self, stream: str = "trading-signals") -> dict[str, Any]:
        return lambda_event(self, stream)

    def records(self, stream: str, clocks: bool = False) -> list[dict[str, Any]]:
        """(partition key, decoded JSON) of every record of `stream`; producers' clock records
        (tradeflow.contracts.Clock) only with `clocks`."""
        out = [{"key": r["kinesis"]["partitionKey"],
                "value": json.loads(base64.b64decode(r["kinesis"]["data"]))}
               for r in self.event(stream)["Records"]]
        return [r for r in out if clocks or "clock" not in r["value"]]


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Aws]:
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=5)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY",
                 "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "TRADEFLOW_BROKER", "TRADEFLOW_RISK_CLOCK",
                 "TRADEFLOW_KINESIS_STREAM_PREFIX", "TRADEFLOW_SLACK_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_SESSION_TOKEN": "testing", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
           "AWS_ENDPOINT_URL": moto_endpoint,
           "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "TRADEFLOW_DATA_DIR": str(tmp_path / "data"), "TRADEFLOW_SYMBOLS": "AAPL,MSFT",
           # Test speed: no waiting on orders or between retries.
           "TRADEFLOW_ORDER_WAIT_SECONDS": "1", "TRADEFLOW_ORDER_POLL_SECONDS": "0.01",
           "TRADEFLOW_BROKER_BACKOFF_SECONDS": "0.001", "TRADEFLOW_BROKER_TIMEOUT_SECONDS": "2",
           "TRADEFLOW_RISK_COOLDOWN_SECONDS": "0"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    get_consumer_settings.cache_clear()
    aws_runtime.reset()
    session = boto3.session.Session(region_name=REGION)
    a = Aws(moto_endpoint, session)
    create_resources(_Bound(a))
    yield a
    aws_runtime.reset()
    get_settings.cache_clear()
    get_consumer_settings.cache_clear()


class _Bound:
    """A session-like object whose clients talk to moto (what create_resources expects)."""

    def __init__(self, a: Aws) -> None:
        self.a = a

    def client(self, service: str) -> Any:
        return self.a.client(service)


@pytest.fixture
def data_stub(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlpacaDataStub]:
    with AlpacaDataStub(key_id=KEY_ID, secret=SECRET) as stub:
        put_secret(_Bound(aws), "tradeflow/alpaca", {"key_id": KEY_ID, "secret_key": SECRET})
        monkeypatch.setenv("APCA_API_DATA_URL", stub.url)
        yield stub


@pytest.fixture
def trading(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlpacaTradingStub]:
    with AlpacaTradingStub(key_id=KEY_ID, secret=SECRET, prices={"AAPL": 101.0, "MSFT": 300.0},
                           fill_after=0) as stub:
        put_secret(_Bound(aws), "tradeflow/alpaca", {"key_id": KEY_ID, "secret_key": SECRET})
        monkeypatch.setenv("APCA_API_BASE_URL", stub.url)
        monkeypatch.setenv("TRADEFLOW_BROKER", "alpaca")
        yield stub


@pytest.fixture
def slack(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackStub]:
    with SlackStub(token=SLACK_TOKEN) as stub:
        put_secret(_Bound(aws), "tradeflow/slack", {"bot_token": SLACK_TOKEN,
                                                     "channel": stub.channel})
        monkeypatch.setenv("TRADEFLOW_SLACK_SECRET_ID", "tradeflow/slack")
        monkeypatch.setenv("SLACK_API_URL", stub.api_url)
        yield stub


def bound(a: Aws) -> _Bound:
    return _Bound(a)
