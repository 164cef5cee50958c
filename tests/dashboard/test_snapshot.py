"""The bounded in-memory state: caps, idempotency, sentiment."""

from __future__ import annotations

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS

from dashboard.events import Decoder
from dashboard.snapshot import DashboardState, Limits

from .conftest import bar, news, order, signal, walk

DEC = Decoder()


def ev(topic: str, record):
    return DEC.decode(topic, record.to_json())


def test_every_collection_is_capped() -> None:
    lim = Limits(bars_per_symbol=50, max_signals=10, max_orders=10, max_news=5,
                 news_per_symbol=3, max_symbols=3)
    st = DashboardState(lim)
    for b in walk("AAPL", 500):
        st.apply(ev(PRICES, b))
    for i in range(100):
        st.apply(ev(SIGNALS, signal("AAPL", i, sid=f"s{i}")))
        st.apply(ev(ORDERS, order(f"o{i}", "AAPL", "buy", 1, 1, 100.0)))
        st.apply(ev(NEWS, news(f"n{i}", "AAPL", i, f"headline {i}")))
    for sym in ("MSFT", "GOOG", "AMZN", "NVDA"):  # two more than allowed
        st.apply(ev(PRICES, bar(sym, 0, 1, 1, 1, 1, 1)))
    assert len(st.bars["AAPL"]) == 50
    assert [b["t"] for b in st.bars["AAPL"]] == sorted(b["t"] for b in st.bars["AAPL"])
    assert len(st.signals) == 10 and list(st.signals)[-1] == "s99"
    assert len(st.orders) == 10 and len(st.news) == 5
    assert len(st.news_by_symbol["AAPL"]) == 3
    assert len(st.bars) == 3 and st.ignored_symbols == 2
    assert st.size() == 50 + 2 + 10 + 10 + 5 + 3


def test_apply_is_idempotent_and_ordered() -> None:
    st = DashboardState()
    bars = walk("AAPL", 5)
    for b in bars:
        assert st.apply(ev(PRICES, b)) is not None
    assert st.apply(ev(PRICES, bars[2])) is None  # redelivery: nothing new for browsers
    assert len(st.bars["AAPL"]) == 5
    late = bar("AAPL", -1, 1, 2, 0.5, 1.5, 10)  # arrives late: inserted in time order
    assert st.apply(ev(PRICES, late)) is not None
    assert st.bars["AAPL"][0]["t"] == int(late.event_time.timestamp())
    s = signal("AAPL", 3)
    assert st.apply(ev(SIGNALS, s)) is not None and st.apply(ev(SIGNALS, s)) is None
    new = order("o1", "AAPL", "buy", 5, status="new")
    filled = order("o1", "AAPL", "buy", 5, 5, 100.0)
    assert st.apply(ev(ORDERS, new)) is not None
    assert st.apply(ev(ORDERS, filled))["status"] == "filled"
    assert st.apply(ev(ORDERS, new)) is None  # an older status redelivered: filled stays
    assert st.orders["o1"].record.status.value == "filled"


def test_sentiment_from_latest_signal_and_headlines() -> None:
    st = DashboardState()
    dec = Decoder(lambda text: type("S", (), {"score": 0.5 if "beats" in text else -0.5,
                                              "label": "x"})())
    st.apply(dec.decode(PRICES, bar("AAPL", 0, 1, 1, 1, 1, 1).to_json()))
    st.apply(dec.decode(SIGNALS, signal("AAPL", 5, sentiment=0.4).to_json()))
    st.apply(dec.decode(SIGNALS, signal("AAPL", 2, sid="older", sentiment=-0.9).to_json()))
    st.apply(dec.decode(NEWS, news("n1", "AAPL", 1, "Apple beats estimates").to_json()))
    st.apply(dec.decode(NEWS, news("n2", "AAPL", 2, "Apple beats again").to_json()))
    st.apply(dec.decode(NEWS, news("n3", "AAPL", 3, "Apple falls").to_json()))
    s = st.sentiment()["AAPL"]
    assert s["signal"] == 0.4  # the latest bar's signal, not the last one to arrive
    assert s["headlines"] == round((0.5 + 0.5 - 0.5) / 3, 3) and s["headline_count"] == 3
