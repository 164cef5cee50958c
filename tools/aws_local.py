"""`make aws-local`: the AWS path end to end on this machine, without AWS.

Starts a moto server (unless AWS_ENDPOINT_URL already points at one), creates what
infra/terraform creates (Kinesis streams, DynamoDB tables, secrets), serves local stand-ins for
Alpaca's market-data and trading APIs and for Slack (the stubs of tools/stubs, imported with the
repository root on sys.path), then runs the real handlers:

  ingest_prices + ingest_news  -> stock-prices / market-news streams
  (the Flink job's place: a signal is derived from the newest ingested bar and put on
   trading-signals, since no Flink runs against moto here)
  execute_signals, fed the stream's records as Lambda would  -> risk -> order -> Slack
  the same records delivered again                           -> no second order

Usage: python tools/aws_local.py [--keep-running] [--metrics-port PORT]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # the stubs live in tools/stubs (see the module docstring)
    sys.path.insert(0, str(REPO_ROOT))

from tradeflow.config import DEAD_LETTER, NEWS, ORDERS, PRICES, SIGNALS, TOPICS  # noqa: E402

STREAM_TOPICS = TOPICS
DEMO_SYMBOLS = ("AAPL", "MSFT")


# --- resources, as infra/terraform defines them (tests use these too) -------------------------
def create_resources(session: Any, prefix: str = "", state_table: str = "tradeflow-state",
                     audit_table: str = "tradeflow-audit",
                     ingest_table: str = "tradeflow-ingest") -> None:
    """Streams and tables with the keys and indexes the code expects (idempotent on moto)."""
    kinesis = session.client("kinesis")
    existing = set(kinesis.list_streams().get("StreamNames", []))
    for topic in STREAM_TOPICS:
        if prefix + topic not in existing:
            kinesis.create_stream(StreamName=prefix + topic, ShardCount=1)
    for topic in STREAM_TOPICS:
        kinesis.get_waiter("stream_exists").wait(StreamName=prefix + topic,
                                                 WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    ddb = session.client("dynamodb")
    have = set(ddb.list_tables().get("TableNames", []))
    s = {"AttributeType": "S"}
    if state_table not in have:
        ddb.create_table(
            TableName=state_table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": n, **s} for n in
                                  ("pk", "unfinished", "decided_wall", "order_symbol",
                                   "decided_clock")],
            GlobalSecondaryIndexes=[
                {"IndexName": "unfinished", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "unfinished", "KeyType": "HASH"},
                               {"AttributeName": "decided_wall", "KeyType": "RANGE"}]},
                {"IndexName": "by_symbol", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "order_symbol", "KeyType": "HASH"},
                               {"AttributeName": "decided_clock", "KeyType": "RANGE"}]}])
    for name, key in ((audit_table, "event_id"), (ingest_table, "pk")):
        if name not in have:
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": key, **s}])


def put_secret(session: Any, name: str, value: dict[str, str]) -> None:
    sm = session.client("secretsmanager")
    try:
        sm.create_secret(Name=name, SecretString=json.dumps(value))
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=json.dumps(value))


def lambda_event(session: Any, stream: str, after: str | None = None) -> dict[str, Any]:
    """The records of `stream` shaped as the Kinesis event Lambda delivers (base64 data)."""
    kinesis = session.client("kinesis")
    records: list[dict[str, Any]] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            resp = kinesis.get_records(ShardIterator=it, Limit=1000)
            for r in resp["Records"]:
                records.append({
                    "eventSource": "aws:kinesis", "eventName": "aws:kinesis:record",
                    "eventSourceARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}",
                    "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": r["PartitionKey"],
                                "sequenceNumber": r["SequenceNumber"],
                                "data": base64.b64encode(r["Data"]).decode()}})
            if not resp["Records"] or not resp.get("NextShardIterator"):
                break
            it = resp["NextShardIterator"]
    return {"Records": records}


def read_stream(session: Any, stream: str) -> list[dict[str, Any]]:
    return [json.loads(base64.b64decode(r["kinesis"]["data"]))
            for r in lambda_event(session, stream)["Records"]]


# --- the demo ---------------------------------------------------------------------------------
def _wire(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unreachable(endpoint: str) -> str | None:
    """What is wrong with the AWS endpoint, or None when it answers."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(endpoint, timeout=2).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except OSError as err:
        return f"{endpoint}: {err}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the moto server and stubs up until Ctrl-C")
    parser.add_argument("--metrics-port", type=int, default=0,
                        help="serve the handlers' metrics on http://127.0.0.1:PORT/metrics and "
                             "the AWS endpoint's health on /healthz (0 = off)")
    args = parser.parse_args(argv)

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.basicConfig(level=logging.INFO, format="%(levelname)-7s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):  # moto's request log drowns the story
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from tools.stubs.alpaca_data import AlpacaDataStub, bar, news
    from tradeflow.observability import Health, serve
    from tools.stubs.alpaca_trading import AlpacaTradingStub
    from tools.stubs.slack import SlackStub

    # Fake credentials: nothing here may ever reach a real AWS account.
    for k, v in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                 "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                 "NO_PROXY": "127.0.0.1,localhost"}.items():
        os.environ[k] = v
    os.environ.pop("AWS_PROFILE", None)
    moto = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    print(f"AWS APIs: moto at {endpoint}")
    health = Health()
    health.add("aws", lambda: _unreachable(endpoint))
    metrics = serve(args.metrics_port, health)

    session = boto3.session.Session(region_name="us-east-1")
    session_client = session.client

    def client(service: str, **kw: Any) -> Any:
        return session_client(service, endpoint_url=endpoint, **kw)

    session.client = client  # type: ignore[method-assign]
    create_resources(session)

    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    data = AlpacaDataStub(key_id="demo-data-key", secret="demo-data-secret-0001")
    for sym, base in zip(DEMO_SYMBOLS, (180.0, 410.0)):
        data.bars[sym] = [bar(_wire(now - timedelta(minutes=m)), o=base, h=base + 1,
                              low=base - 1, c=base + 0.5) for m in range(6, 0, -1)]
    data.news.append(news(9001, _wire(now - timedelta(minutes=3)), ["AAPL"],
                          "Apple beats estimates on strong services growth"))
    trading = AlpacaTradingStub(key_id=data.key_id, secret=data.secret,
                                prices={"AAPL": 180.5, "MSFT": 410.5}, fill_after=0)
    slack = SlackStub(token="xoxb-demo-token-000000", channel="#trading-demo")
    with data, trading, slack:
        put_secret(session, "tradeflow/alpaca", {"key_id": data.key_id,
                                                  "secret_key": data.secret})
        put_secret(session, "tradeflow/slack", {"bot_token": slack.token,
                                                 "channel": slack.channel})
        os.environ.update({
            "APCA_API_DATA_URL": data.url, "APCA_API_BASE_URL": trading.url,
            "TRADEFLOW_SLACK_SECRET_ID": "tradeflow/slack", "SLACK_API_URL": slack.api_url,
            "TRADEFLOW_SYMBOLS": ",".join(DEMO_SYMBOLS), "TRADEFLOW_BROKER": "alpaca",
            "TRADEFLOW_RISK_COOLDOWN_SECONDS": "0", "TRADEFLOW_ORDER_WAIT_SECONDS": "2",
            "TRADEFLOW_ORDER_POLL_SECONDS": "0.05",
            "TRADEFLOW_DATA_DIR": str(REPO_ROOT / ".tradeflow" / "aws-local")})

        from lambdas import execute_signals, ingest_news, ingest_prices
        from lambdas import runtime

        runtime.reset()
        print("ingest_prices:", ingest_prices.handler({}, None))
        print("ingest_news:  ", ingest_news.handler({}, None))
        print("ingest_prices again (nothing new):", ingest_prices.handler({}, None))
        bars = [r for r in read_stream(session, PRICES) if "clock" not in r]
        stories = [r for r in read_stream(session, NEWS) if "clock" not in r]
        print(f"stock-prices holds {len(bars)} bars; market-news holds "
              f"{len(stories)} stories")

        # The Flink job's place: one BUY signal on the newest AAPL bar.
        last = max((b for b in bars if b["symbol"] == "AAPL"), key=lambda b: b["event_time"])
        signal = {"v": 1, "signal_id": f"demo-{uuid.uuid4().hex[:12]}", "symbol": "AAPL",
                  "action": "BUY", "strength": "STRONG", "confidence": 0.8,
                  "price": last["close"], "bar_time": last["event_time"],
                  "emitted_at": _wire(datetime.now(timezone.utc)),
                  "indicators": {"rsi_14": 28.0}, "sentiment": 0.5,
                  "reason": "demo: RSI oversold and positive news", "strategy": "confluence",
                  "strategy_version": "1"}
        kinesis = session.client("kinesis")
        kinesis.put_record(StreamName=SIGNALS, Data=json.dumps(signal).encode(),
                           PartitionKey="AAPL")
        kinesis.put_record(StreamName=SIGNALS, Data=b"{not json",
                           PartitionKey="AAPL")
        event = lambda_event(session, SIGNALS)
        print("execute_signals:", execute_signals.handler(event, None))
        print("execute_signals, same records again:", execute_signals.handler(event, None))
        print(f"orders at the Alpaca stub: {len(trading.orders)} "
              f"({', '.join(o['client_order_id'] + ' ' + o['status'] for o in trading.orders)})")
        print(f"Slack messages: {len(slack.messages)}")
        print(f"orders stream: {[o['status'] for o in read_stream(session, ORDERS)]}")
        print(f"dead-letter stream: {[d['reason'] for d in read_stream(session, DEAD_LETTER)]}")
        ok = len(trading.orders) == 1
        if args.keep_running:
            print(f"moto at {endpoint}; Ctrl-C to stop")
            try:
                import time
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    runtime.reset()
    if metrics is not None:
        metrics.close()
    if moto is not None:
        moto.stop()
    print("aws-local demo:", "OK" if ok else "FAILED (expected exactly one order)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
