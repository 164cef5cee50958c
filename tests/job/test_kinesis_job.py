"""The signal job on Flink's Kinesis connector (4.3.0-1.19, jvm/pom.xml) against a local moto
server: the streams the Lambdas use (tools.aws_local.create_resources, as infra/terraform
creates them), real minute bars published through the project's KinesisBackend, the streaming
job on a mini-cluster reading and writing them, its signals read back through KinesisBackend and
then executed by the executor Lambda from the same `trading-signals` stream."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from backtest.run import run_backtest
from jobs.signal_job import kinesis_job
from lambdas import execute_signals
from lambdas.dynamo_store import DynamoStore
from tools.aws_local import lambda_event
from producers.replay import replay
from producers.sink import Publisher
from tests.conftest import drain, eventually, shared_file
from tests.lambdas.conftest import aws, bound, moto_endpoint, trading  # noqa: F401 (fixtures)
from tradeflow.config import DEAD_LETTER, SIGNALS
from tradeflow.topics.kinesis import KinesisBackend
from tradeflow.topics.positions import PositionStore

from .stream_time import stream_watermark

pytestmark = [pytest.mark.flink, pytest.mark.shared_data]
LEAN_MINUTES = "lean-us-equity-minute/lean_minute_trade_bars.csv"
REGION = "us-east-1"
SYMBOL = "AAPL"  # one symbol of the file (2,303 bars over four days) keeps the test short


def one_symbol(src: Path, dest: Path) -> Path:
    lines = src.read_text().splitlines()
    dest.write_text("\n".join([lines[0], *(x for x in lines[1:] if x.startswith(SYMBOL + ","))])
                    + "\n")
    return dest


def test_streaming_job_on_kinesis_gives_the_bounded_runs_signal_ids(aws, trading,  # noqa: F811
                                                                      tmp_path):
    prices = one_symbol(shared_file(LEAN_MINUTES), tmp_path / "prices.csv")
    backend = KinesisBackend(region=REGION, endpoint_url=aws.endpoint,
                             positions=PositionStore(tmp_path / "positions"))
    replay(Publisher(backend, "replay"), [prices], [], speed=0)  # datasets.load, PutRecords
    bars = [json.loads(v) for v in drain(backend, "stock-prices", group="check")]
    assert len(bars) == 2303

    job = kinesis_job("streaming", REGION, endpoint=aws.endpoint, name="test-kinesis")
    result = job.run(wait=False)
    try:
        expected_dir = tmp_path / "bounded"
        run_backtest([prices], [], expected_dir)  # the file backend's bounded job, meanwhile
        lines = (expected_dir / "signals.jsonl").read_text().splitlines()
        expected = {s["signal_id"]: s for s in map(json.loads, lines)}
        # Over history the watermark stands at the newest bar's whole hour (less the delay): the
        # signals of the last hour's bars stay in the stream's window.
        passed = stream_watermark(max(datetime.fromisoformat(b["event_time"]) for b in bars))
        want = {k for k, s in expected.items() if datetime.fromisoformat(s["bar_time"]) <= passed}
        assert len(want) > 100
        sub = backend.subscribe(SIGNALS, "test")
        got: list[dict] = []

        def every_due_signal() -> bool:
            got.extend(json.loads(m.value) for m in sub.poll(max_records=1000, timeout=1.0))
            return want <= {s["signal_id"] for s in got}

        eventually(every_due_signal, "every signal due on the stream", timeout=120, every=0)
        got += [json.loads(m.value) for m in sub.poll(max_records=1000, timeout=3.0)]  # extras?
    finally:
        result.get_job_client().cancel().result()
    ids = [s["signal_id"] for s in got]
    assert len(ids) == len(set(ids)), "a signal was written twice"
    assert set(ids) == want
    for s in got:  # the same decision on the same numbers
        e = expected[s["signal_id"]]
        assert (s["action"], s["strength"], s["reason"]) == \
            (e["action"], e["strength"], e["reason"])
        assert s["indicators"] == pytest.approx(e["indicators"], rel=1e-12)
    assert drain(backend, DEAD_LETTER) == []

    # The executor Lambda, fed the job's stream as Lambda's event source mapping would: every
    # signal is decided once (2014's signals are refused as stale; no order reaches the broker).
    event = lambda_event(bound(aws), SIGNALS)
    assert len(event["Records"]) == len(ids)
    assert execute_signals.handler(event, None) == {"batchItemFailures": []}
    store = DynamoStore(aws.client("dynamodb"), "tradeflow-state", "tradeflow-audit")
    assert all(store.is_processed(i) for i in ids)
    assert trading.orders == []
