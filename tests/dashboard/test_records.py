"""One table of record kinds: every topic read has a contract, and a folder sees only its kinds."""

from __future__ import annotations

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS

from dashboard.events import Decoder
from dashboard.records import BY_TOPIC, TOPICS, Event, Folder, fold

from .conftest import T0, bar, news, order, signal


def test_the_feed_reads_every_kind_and_only_those() -> None:
    assert set(TOPICS) == {PRICES, NEWS, SIGNALS, ORDERS}
    records = {PRICES: bar("AAPL", 0, 1, 2, 0.5, 1.5, 10), NEWS: news("n", "AAPL", 0, "up"),
               SIGNALS: signal("AAPL", 0), ORDERS: order("o", "AAPL", "buy", 1)}
    for topic, record in records.items():
        ev = Decoder().decode(topic, record.to_json())
        assert ev.record == record and ev.topic == topic
        assert BY_TOPIC[topic].contract is type(record)


def test_a_folder_gets_its_kinds_only() -> None:
    class Bars(Folder[str]):
        def on_bar(self, ev: Event) -> str:
            return ev.record.symbol

    assert fold(Bars(), Event(bar("MSFT", 0, 1, 1, 1, 1, 1))) == "MSFT"
    assert fold(Bars(), Event(signal("MSFT", 0))) is None


def test_an_order_dated_by_its_signal_is_written_with_that_time() -> None:
    ev = Event(order("o", "AAPL", "buy", 1))
    assert ev.record.bar_time is None and ev.wire["bar_t"] is None
    assert ev.dated(T0.timestamp()).wire["bar_t"] == T0.timestamp()
