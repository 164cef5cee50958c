"""Alpaca producer against a local stub of the market-data API: conversion, pagination,
completed bars only, de-duplication, dead-letter, retries, auth errors and the CLI."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from producers.alpaca import (
    AlpacaAuthError,
    AlpacaDataClient,
    AlpacaProducer,
    AlpacaUnavailable,
    run,
)
from producers.sink import Publisher
from tests.conftest import drain
from tools.stubs.alpaca_data import AlpacaDataStub, bar, news
from tradeflow.cli import cli
from tradeflow.config import get_settings
from tradeflow.contracts import DeadLetter, NewsItem, PriceBar, parse, to_wire_time
from tradeflow.topics import Record
from tradeflow.topics.file import FileBackend

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


def at(minute: int, second: int = 0) -> datetime:
    return T0 + timedelta(minutes=minute, seconds=second)


def wire(minute: int) -> str:
    return to_wire_time(at(minute))


class MemoryBackend:
    """Just enough of a topic backend for a Publisher: keeps what was published, per topic."""

    def __init__(self) -> None:
        self.topics: dict[str, list[bytes]] = defaultdict(list)

    def publish(self, topic: str, records: list[Record]) -> int:
        self.topics[topic] += [r.value for r in records]
        return len(records)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def bars(self) -> list[PriceBar]:
        return [parse(PriceBar, v) for v in self.topics["stock-prices"]]

    def news(self) -> list[NewsItem]:
        return [parse(NewsItem, v) for v in self.topics["market-news"]]

    def dead(self) -> list[DeadLetter]:
        return [parse(DeadLetter, v) for v in self.topics["dead-letter"]]


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def stub() -> Iterator[AlpacaDataStub]:
    with AlpacaDataStub(page_size=3) as s:
        yield s


@pytest.fixture
def waits() -> list[float]:
    return []


def client_for(stub: AlpacaDataStub, waits: list[float], secret: str | None = None,
               attempts: int = 5) -> AlpacaDataClient:
    # The backoff "sleep" only records: the tests never really wait.
    return AlpacaDataClient(stub.url, SecretStr(stub.key_id), SecretStr(secret or stub.secret),
                            attempts=attempts, backoff=0.01, timeout=2.0, sleep=waits.append)


def producer_for(stub: AlpacaDataStub, waits: list[float], clock: Clock,
                 symbols: tuple[str, ...] = ("AAPL", "MSFT"), **kw) -> AlpacaProducer:
    return AlpacaProducer(client_for(stub, waits, kw.pop("secret", None)), list(symbols),
                          bars_since=at(0), news_since=at(-60), now=clock, **kw)


def test_bars_become_bar_end_pricebars_across_pages_and_the_forming_bar_waits(stub, waits):
    stub.bars = {"AAPL": [bar(wire(m), c=100 + m) for m in range(5)],
                 "MSFT": [bar(wire(m)) for m in range(3)]}
    mem = MemoryBackend()
    clock = Clock(at(4, 30))  # the 14:34 bar (ends 14:35) is still forming
    result = producer_for(stub, waits, clock).poll(Publisher(mem, "test"))

    got = mem.bars()
    assert result.bars == len(got) == 7 and result.rejected == 0
    aapl = [b for b in got if b.symbol == "AAPL"]
    assert [b.event_time for b in aapl] == [at(1), at(2), at(3), at(4)]  # bar END
    assert aapl[0].close == 100 and {b.source for b in got} == {"alpaca"}
    assert [b.event_time for b in got] == sorted(b.event_time for b in got)
    # 8 bars at 3 a page: the producer followed the page tokens.
    pages = stub.paths("/v2/stocks/bars")
    assert len(pages) == 3 and [r.params.get("page_token") for r in pages] == [None, "3", "6"]
    first = pages[0].params
    assert (first["symbols"], first["timeframe"], first["feed"], first["start"]) == (
        "AAPL,MSFT", "1Min", "iex", "2024-01-02T14:30:00Z")
    assert all(r.authorized for r in stub.requests)


def test_second_poll_publishes_only_new_bars_and_news(stub, waits):
    stub.bars = {"AAPL": [bar(wire(m)) for m in range(3)]}
    stub.news = [news(1, wire(-10), ["AAPL"]), news(2, wire(1), ["AAPL", "MSFT"])]
    mem, clock = MemoryBackend(), Clock(at(2, 30))
    pub, producer = Publisher(mem, "test"), producer_for(stub, waits, clock)
    producer.poll(pub)
    assert [b.event_time for b in mem.bars()] == [at(1), at(2)]
    assert [n.id for n in mem.news()] == ["alpaca-1", "alpaca-2"]

    # A minute later the forming bar is complete, one more bar and one more story exist.
    stub.bars["AAPL"].append(bar(wire(3)))
    stub.news.append(news(3, wire(3), ["MSFT"]))
    clock.t = at(4, 5)
    second = producer.poll(pub)
    assert (second.bars, second.news) == (2, 1)
    assert [b.event_time for b in mem.bars()] == [at(1), at(2), at(3), at(4)]
    assert [n.id for n in mem.news()] == ["alpaca-1", "alpaca-2", "alpaca-3"]
    # Later polls ask from a few minutes before the previous poll, not from --since again.
    clock.t = at(20)
    producer.poll(pub)
    clock.t = at(21)
    producer.poll(pub)
    assert stub.paths("/v2/stocks/bars")[-1].params["start"] == to_wire_time(at(15))
    assert len(mem.bars()) == 4 and len(mem.news()) == 3


def test_news_item_converted(stub, waits):
    stub.news = [news(42, "2024-01-02T14:29:10Z", ["AAPL", "BTCUSD", "BRK.B"], "Apple beats")]
    mem = MemoryBackend()
    producer_for(stub, waits, Clock(at(1))).poll(Publisher(mem, "test"))
    [item] = mem.news()
    assert item.id == "alpaca-42" and item.symbols == ["AAPL", "BRK.B"]
    assert item.headline == "Apple beats" and item.source == "benzinga"
    assert item.published_at == datetime(2024, 1, 2, 14, 29, 10, tzinfo=timezone.utc)
    req = stub.paths("/v1beta1/news")[0].params
    assert (req["sort"], req["limit"], req["symbols"]) == ("asc", "50", "AAPL,MSFT")


def test_malformed_bar_and_symbol_less_news_go_to_dead_letter_once(stub, waits):
    stub.bars = {"AAPL": [bar(wire(0)), bar(wire(1), o=-5), bar(wire(2), h=8, low=9),
                          {"t": wire(3), "o": 1}]}
    # Alpaca also tags crypto pairs; a story tagged with no US ticker at all cannot be keyed.
    stub.filter_news = False
    stub.news = [news(5, wire(0), ["AAPL"]), news(6, wire(0), ["BTCUSD", "aapl"])]
    mem, clock = MemoryBackend(), Clock(at(5))
    pub, producer = Publisher(mem, "test"), producer_for(stub, waits, clock)
    result = producer.poll(pub)

    assert [b.event_time for b in mem.bars()] == [at(1)]
    assert [n.id for n in mem.news()] == ["alpaca-5"]
    dead = mem.dead()
    reasons = [d.reason for d in dead]
    assert result.rejected == len(dead) == 4, reasons
    assert any("open: must be positive" in r for r in reasons)
    assert any("high 8.0 < low 9.0" in r for r in reasons)
    assert any("missing field 'h'" in r for r in reasons)
    assert any("no valid ticker" in r for r in reasons)
    by_topic = {d.source_topic: d for d in dead}
    assert json.loads(by_topic["market-news"].original)["id"] == 6
    assert json.loads(by_topic["stock-prices"].original)["symbol"] == "AAPL"
    # Still inside the request windows next poll, but dead-lettered only once.
    clock.t = at(6)
    producer.poll(pub)
    assert len(mem.dead()) == 4


def test_429_with_retry_after_then_success(stub, waits):
    stub.bars = {"AAPL": [bar(wire(0))]}
    stub.fail(429, times=2, retry_after="0.15")
    mem = MemoryBackend()
    result = producer_for(stub, waits, Clock(at(3))).poll(Publisher(mem, "test"))
    assert result.errors == [] and len(mem.bars()) == 1
    assert waits == [0.15, 0.15]  # the server's Retry-After, not our own backoff
    assert [r.status for r in stub.requests[:3]] == [429, 429, 200]



def test_retry_after_as_an_http_date(stub, waits):
    stub.fail(429, times=1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")  # already past
    stub.news = [news(1, wire(0), ["AAPL"])]
    mem = MemoryBackend()
    producer_for(stub, waits, Clock(at(3))).poll(Publisher(mem, "test"))
    assert waits == [0.0] and len(mem.news()) == 1


def test_stories_without_an_id_are_each_dead_lettered_once(stub, waits):
    a, b = news(1, wire(0), ["AAPL"]), news(2, wire(0), ["MSFT"])
    del a["id"], b["id"]
    stub.news = [a, b]
    mem, clock = MemoryBackend(), Clock(at(3))
    pub, producer = Publisher(mem, "test"), producer_for(stub, waits, clock)
    producer.poll(pub)
    clock.t = at(4)
    producer.poll(pub)
    assert [d.reason for d in mem.dead()] == ["alpaca: news: id: expected an integer, got None"] * 2

def test_500_then_success_backs_off(stub, waits):
    stub.news = [news(1, wire(0), ["MSFT"])]
    stub.fail(500, times=3)
    mem = MemoryBackend()
    result = producer_for(stub, waits, Clock(at(3))).poll(Publisher(mem, "test"))
    assert result.errors == [] and [n.id for n in mem.news()] == ["alpaca-1"]
    assert len(waits) == 3 and all(0 < w <= 0.04 for w in waits)  # exponential, tiny in tests


def test_outage_outlasting_the_retries_is_reported_and_recovers_next_poll(stub, waits):
    stub.bars = {"AAPL": [bar(wire(0))]}
    stub.fail(503, times=2)  # the news request and its one retry
    mem, clock = MemoryBackend(), Clock(at(3))
    producer = AlpacaProducer(client_for(stub, waits, attempts=2), ["AAPL"], bars_since=at(0),
                              now=clock)
    pub = Publisher(mem, "test")
    first = producer.poll(pub)
    assert len(first.errors) == 1 and "HTTP 503" in first.errors[0]
    assert len(mem.bars()) == 1  # bars were still read
    stub.fail(503, times=4)
    with pytest.raises(AlpacaUnavailable):  # --once makes the failure visible to cron
        run(producer, pub, poll_seconds=1, once=True)
    assert producer.poll(pub).errors == []


def test_connection_refused_is_retried_then_unavailable(waits):
    with AlpacaDataStub() as gone:
        url = gone.url  # a port nobody listens on once the stub is closed
    client = AlpacaDataClient(url, SecretStr("k" * 10), SecretStr("s" * 20), attempts=3,
                              backoff=0.01, sleep=waits.append)
    with pytest.raises(AlpacaUnavailable, match="ConnectionError"):
        client.get("/v2/stocks/bars", {})
    assert len(waits) == 2


def test_wrong_secret_is_a_clear_error_without_the_secret(stub, waits, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-4f1c9a7e"
    producer = producer_for(stub, waits, Clock(at(3)), secret=wrong)
    with pytest.raises(AlpacaAuthError) as err:
        producer.poll(Publisher(MemoryBackend(), "test"))
    text = str(err.value)
    assert "HTTP 401" in text and "APCA_API_SECRET_KEY" in text
    assert waits == []  # no retry on an auth error
    out = capsys.readouterr()
    everything = text + repr(err.value) + caplog.text + out.out + out.err + repr(producer.client)
    assert wrong not in everything and stub.key_id not in everything


def test_cli_once_end_to_end_on_the_file_backend(settings, monkeypatch):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    with AlpacaDataStub(page_size=2) as stub:
        # Five complete bars, then one that cannot have ended yet (even if the minute turns
        # during the test), which must not be published.
        stub.bars = {"AAPL": [bar(to_wire_time(now + timedelta(minutes=m)))
                              for m in (-5, -4, -3, -2, -1, 1)]}
        stub.news = [news(77, to_wire_time(now - timedelta(hours=1)), ["AAPL"], "Apple news")]
        monkeypatch.setenv("APCA_API_KEY_ID", stub.key_id)
        monkeypatch.setenv("APCA_API_SECRET_KEY", stub.secret)
        monkeypatch.setenv("APCA_API_DATA_URL", stub.url)
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["produce", "alpaca", "--symbols", "AAPL", "--once",
                                          "--feed", "sip"])
    assert result.exit_code == 0, result.output
    assert stub.secret not in result.output
    assert stub.paths("/v2/stocks/bars")[0].params["feed"] == "sip"
    backend = FileBackend(settings.path())
    bars = [parse(PriceBar, v) for v in drain(backend, "stock-prices")]
    assert [b.event_time for b in bars] == [now - timedelta(minutes=m) for m in range(4, -1, -1)]
    [item] = [parse(NewsItem, v) for v in drain(backend, "market-news")]
    assert item.id == "alpaca-77"


def test_cli_without_keys_says_what_to_set(settings, monkeypatch):
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["produce", "alpaca", "--once"])
    assert result.exit_code == 1
    assert "APCA_API_KEY_ID" in result.output and "APCA_API_SECRET_KEY" in result.output


def test_cli_wrong_keys_exit_cleanly_without_the_secret(settings, monkeypatch):
    with AlpacaDataStub() as stub:
        monkeypatch.setenv("APCA_API_KEY_ID", stub.key_id)
        monkeypatch.setenv("APCA_API_SECRET_KEY", "not-the-right-secret-123")
        monkeypatch.setenv("APCA_API_DATA_URL", stub.url)
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["produce", "alpaca", "--once"])
    assert result.exit_code == 1 and "HTTP 401" in result.output
    assert "not-the-right-secret-123" not in result.output and stub.key_id not in result.output
    assert "Traceback" not in result.output
