"""The ingestion Lambdas against moto and the Alpaca data stub: records land in the streams with
partition key = symbol, once across invocations and cold starts; Secrets Manager is read once
per warm container; bad data is dead-lettered, not crashed on; partial PutRecords failures are
retried."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lambdas import ingest, ingest_news, ingest_prices
from lambdas import runtime as aws_runtime
from lambdas.aws_secrets import SecretError
from tools.aws_local import put_secret
from tests.lambdas.conftest import KEY_ID, SECRET, bound
from tools.stubs.alpaca_data import bar, news


def wire(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)


@pytest.fixture(autouse=True)
def _now(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers' clock, stopped half-way through the minute the test starts in: the tests'
    bars are dated from it, and a bar of that minute is still forming however long they run."""
    global NOW
    NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    monkeypatch.setattr(ingest, "wall_now", lambda: NOW + timedelta(seconds=30))


def minutes_ago(m: int) -> str:
    return wire(NOW - timedelta(minutes=m))


def test_bars_land_once_keyed_by_symbol(aws, data_stub):
    data_stub.bars = {"AAPL": [bar(minutes_ago(m)) for m in (4, 3, 2)],
                      "MSFT": [bar(minutes_ago(m), o=300, h=301, low=299, c=300.5) for m in (3, 2)]}
    first = ingest_prices.handler({}, None)
    assert first["published"] == 5 and first["dead_lettered"] == 0
    records = aws.records("stock-prices")
    assert sorted(r["key"] for r in records) == ["AAPL"] * 3 + ["MSFT"] * 2
    assert all(r["key"] == r["value"]["symbol"] for r in records)
    # Bar END on the wire: Alpaca's t + 1 minute.
    assert max(r["value"]["event_time"] for r in records if r["key"] == "AAPL") == minutes_ago(1)

    assert ingest_prices.handler({}, None)["published"] == 0  # nothing new: nothing again
    aws_runtime.reset()  # a cold start forgets memory; DynamoDB does not
    data_stub.bars["AAPL"].append(bar(minutes_ago(1)))
    third = ingest_prices.handler({}, None)
    assert third["published"] == 1
    assert len(aws.records("stock-prices")) == 6
    # Secrets Manager: once per container (and once more after the cold start).
    assert aws_runtime.runtime().secrets.reads == 1


def test_forming_bar_waits_and_event_symbols_override(aws, data_stub):
    data_stub.bars = {"AAPL": [bar(minutes_ago(1)), bar(minutes_ago(0))],  # the last one still forms
                      "MSFT": [bar(minutes_ago(1))]}
    result = ingest_prices.handler({"symbols": ["AAPL"]}, None)
    assert result["symbols"] == ["AAPL"] and result["published"] == 1
    assert [r["key"] for r in aws.records("stock-prices")] == ["AAPL"]


def test_bad_bar_is_dead_lettered_once(aws, data_stub):
    data_stub.bars = {"AAPL": [bar(minutes_ago(3)), bar(minutes_ago(2), h=1.0, low=5.0)]}
    result = ingest_prices.handler({}, None)
    assert result["published"] == 1 and result["dead_lettered"] == 1
    assert ingest_prices.handler({}, None)["dead_lettered"] == 0  # not again next minute
    dead = [r["value"] for r in aws.records("dead-letter")]
    assert len(dead) == 1 and "high" in dead[0]["reason"]
    assert dead[0]["component"] == "lambda-ingest-prices"
    assert dead[0]["source_topic"] == "stock-prices"


def test_news_published_once_across_cold_starts(aws, data_stub):
    data_stub.news = [news(1, minutes_ago(10), ["AAPL"], "Apple rallies"),
                      news(2, minutes_ago(5), ["MSFT", "AAPL"], "Cloud deal"),
                      news(3, minutes_ago(4), ["AAPL"], "")]  # no headline
    first = ingest_news.handler({}, None)
    assert (first["published"], first["dead_lettered"]) == (2, 1)
    aws_runtime.reset()
    data_stub.news.append(news(4, minutes_ago(1), ["AAPL"], "Another story"))
    second = ingest_news.handler({}, None)
    assert (second["published"], second["dead_lettered"], second["skipped"]) == (1, 0, 3)
    stories = aws.records("market-news")
    assert [s["value"]["id"] for s in stories] == ["alpaca-1", "alpaca-2", "alpaca-4"]
    assert [s["key"] for s in stories] == ["AAPL", "MSFT", "AAPL"]  # first tagged symbol


def test_partially_failed_putrecords_are_retried(aws, data_stub):
    data_stub.bars = {"AAPL": [bar(minutes_ago(m)) for m in (4, 3, 2)]}
    backend = aws_runtime.runtime().backend
    backend._sleep = lambda s: None
    real = backend.client.put_records
    calls: list[int] = []

    def flaky(**kw):
        calls.append(len(kw["Records"]))
        if len(calls) > 1:
            return real(**kw)
        # First call: the first record is stored, the others are throttled.
        resp = real(StreamName=kw["StreamName"], Records=kw["Records"][:1])
        throttled = {"ErrorCode": "ProvisionedThroughputExceededException",
                     "ErrorMessage": "Rate exceeded"}
        return {"FailedRecordCount": len(kw["Records"]) - 1,
                "Records": resp["Records"] + [throttled] * (len(kw["Records"]) - 1)}

    backend.client.put_records = flaky
    assert ingest_prices.handler({}, None)["published"] == 3
    assert calls[:2] == [3, 2]  # only the failed entries were sent again
    assert calls[2:] == [1]  # then the clock, on the one shard
    assert len(aws.records("stock-prices")) == 3


def test_missing_or_bad_secret_fails_clearly_without_values(aws, data_stub, caplog):
    aws.client("secretsmanager").delete_secret(SecretId="tradeflow/alpaca",
                                               ForceDeleteWithoutRecovery=True)
    with pytest.raises(SecretError, match="cannot read secret 'tradeflow/alpaca'"):
        ingest_prices.handler({}, None)
    put_secret(bound(aws), "tradeflow/alpaca", {"key_id": KEY_ID})
    aws_runtime.reset()
    with pytest.raises(SecretError, match="lacks secret_key"):
        ingest_prices.handler({}, None)
    put_secret(bound(aws), "tradeflow/alpaca", {"key_id": KEY_ID, "secret_key": "wrong-" + SECRET})
    aws_runtime.reset()
    with pytest.raises(Exception, match="refused the credentials") as err:
        ingest_prices.handler({}, None)
    assert SECRET not in str(err.value) and SECRET not in caplog.text
