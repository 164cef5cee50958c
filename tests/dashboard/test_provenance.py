"""What the data is (the header badge) and the one clock for orders, from real producer records:
bars of the simulator, of a replayed file and of the Alpaca mapping, through the dashboard's
decoder, bounded state and server delta code."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from tradeflow.alpaca_data import bar_from_alpaca
from tradeflow.config import ORDERS, PRICES, SIGNALS
from tradeflow.contracts import Clock, PriceBar, is_clock
from tradeflow.datasets import read

from dashboard.aggregator import Aggregator
from dashboard.events import Decoder
from dashboard.feed import Batch
from dashboard.server import Dashboard
from dashboard.snapshot import DashboardState, Limits, source_kind
from producers.market_sim import MarketSimulator

from .conftest import T0, at, fast_options, order, signal

DEC = Decoder()


def ev(topic: str, record):
    return DEC.decode(topic, record.to_json())


def sim_bars(symbols: list[str], n: int) -> list[PriceBar]:
    sim = MarketSimulator(symbols, seed=3, start=T0)
    return [b for _ in range(n) for b in sim.step()[1]]


def replay_bars(tmp_path: Path, symbol: str, n: int) -> list[PriceBar]:
    f = tmp_path / f"{symbol.lower()}.csv"
    rows = ["symbol,timestamp,open,high,low,close,volume"] + [
        f"{symbol},{at(i).isoformat()},10,11,9,10.5,100" for i in range(n)]
    f.write_text("\n".join(rows) + "\n")
    return list(read(f))


def live_bars(symbol: str, n: int, start_minute: int = 0) -> list[PriceBar]:
    return [bar_from_alpaca(symbol, {"t": at(start_minute + i - 1).isoformat(), "o": 5, "h": 6,
                                     "l": 4, "c": 5.5, "v": 10}) for i in range(n)]


def state_of(bars: list[PriceBar], limits: Limits | None = None) -> DashboardState:
    st = DashboardState(limits)
    for b in bars:
        st.apply(ev(PRICES, b))
    return st


def test_label_for_sim_replay_and_live_sources(tmp_path: Path) -> None:
    assert DashboardState().provenance()["kind"] == "none"
    sim = sim_bars(["AAPL", "MSFT"], 5)
    assert {b.source for b in sim} == {"sim"}
    p = state_of(sim).provenance()
    assert p["kind"] == "simulated" and p["label"] == "SIMULATED DATA — invented prices"
    assert p["symbols"] == {"simulated": ["AAPL", "MSFT"]} and p["sources"] == ["sim"]

    replay = replay_bars(tmp_path, "AAPL", 5)
    assert replay[0].source == "replay:aapl.csv"
    p = state_of(replay).provenance()
    assert p["kind"] == "replay" and p["label"].startswith("REPLAY")
    assert p["sources"] == ["replay:aapl.csv"]

    live = live_bars("NVDA", 5)
    p = state_of(live).provenance()
    assert p["kind"] == "live" and p["label"] == "LIVE — Alpaca market data"

    p = state_of(sim_bars(["AAPL"], 2)[:1] + [b.model_copy(update={"source": "test"})
                                               for b in live]).provenance()
    assert p["kind"] == "mixed"
    p = state_of([live[0].model_copy(update={"source": "vendor-x"})]).provenance()
    assert p["kind"] == "other" and "vendor-x" in p["label"]
    assert [source_kind(s) for s in ("sim", "replay:x.csv", "alpaca", "test")] == [
        "simulated", "replay", "live", "other"]


def test_mixed_sources_are_said_and_follow_the_bars_held(tmp_path: Path) -> None:
    sim = sim_bars(["AAPL"], 3)
    st = state_of(sim + live_bars("NVDA", 3) + replay_bars(tmp_path, "MSFT", 3),
                  Limits(bars_per_symbol=4))
    p = st.provenance()
    assert p["kind"] == "mixed" and p["kinds"] == ["live", "replay", "simulated"]
    assert p["label"] == "MIXED DATA — live + replay + simulated (invented prices)"
    assert p["symbols"] == {"simulated": ["AAPL"], "live": ["NVDA"], "replay": ["MSFT"]}
    # Live AAPL bars after the simulated ones: once those leave the window, AAPL is live.
    for b in live_bars("AAPL", 4, start_minute=10):
        st.apply(ev(PRICES, b))
    p = st.provenance()
    assert p["symbols"] == {"live": ["AAPL", "NVDA"], "replay": ["MSFT"]}
    # A bar redelivered with another source replaces the old one's count.
    fixed = replay_bars(tmp_path, "MSFT", 3)[-1].model_copy(update={"source": "alpaca"})
    assert st.apply(ev(PRICES, fixed)) is not None
    assert st.provenance()["symbols"]["live"] == ["AAPL", "MSFT", "NVDA"]


def test_server_sends_the_label_and_dates_orders_by_their_signal(backend, data_settings) -> None:
    dash = Dashboard(backend, data_settings, fast_options())

    def feed(topic: str, records) -> dict | None:
        dash.apply_batch(Batch(topic, [ev(topic, r) for r in records], 0, time.time()))
        return dash.build_delta(False, False)

    assert is_clock(Clock(clock=T0, source="sim").to_json())  # the feed skips these, not us
    first = feed(PRICES, sim_bars(["AAPL"], 3))
    assert first["provenance"]["kind"] == "simulated"
    assert "provenance" not in feed(PRICES, sim_bars(["AAPL"], 4)[-1:])  # unchanged: not resent
    d = feed(PRICES, live_bars("AAPL", 1, start_minute=30))
    assert d["provenance"]["kind"] == "mixed"
    assert dash.snapshot_dict()["provenance"] == d["provenance"]

    # The order is placed at the wall clock, long after its signal's bar (simulator speed).
    wall = datetime(2024, 3, 5, 20, 0, tzinfo=timezone.utc)
    sig = signal("AAPL", 2, sid="s1")
    o = feed(ORDERS, [order("o1", "AAPL", "buy", 5, 5, 100.0, sid="s1", when=wall)])["orders"][0]
    assert o["bar_t"] is None and o["t"] == wall.timestamp()  # its signal not seen yet
    d = feed(SIGNALS, [sig])
    assert d["orders"][0]["client_order_id"] == "o1"
    assert d["orders"][0]["bar_t"] == sig.bar_time.timestamp() == d["signals"][0]["t"]
    assert d["orders"][0]["updated_at"].startswith("2024-03-05T20:00")  # wall clock kept
    o2 = feed(ORDERS, [order("o2", "AAPL", "sell", 5, 5, 101.0, sid="s1", when=wall)])["orders"][0]
    assert o2["bar_t"] == sig.bar_time.timestamp()
    assert {x["bar_t"] for x in dash.snapshot_dict()["orders"]} == {sig.bar_time.timestamp()}


def test_orders_dated_by_signals_the_state_no_longer_holds() -> None:
    agg = Aggregator()
    st = DashboardState(Limits(max_signals=2), signal_time=agg.signal_time)
    for i in range(5):
        e = ev(SIGNALS, signal("AAPL", i, sid=f"s{i}"))
        agg.apply(e)
        st.apply(e)
    assert "s0" not in st.signals
    w = st.apply(ev(ORDERS, order("o1", "AAPL", "buy", 1, 1, 10.0, sid="s0")))
    assert w["bar_t"] == at(0).timestamp()
    alone = DashboardState().apply(ev(ORDERS, order("o2", "AAPL", "buy", 1, sid="s9")))
    assert alone["bar_t"] is None


def test_orders_on_their_own_bars(backend, data_settings) -> None:
    """What the consumer publishes: orders carrying `bar_time` (the bar decided on) and
    `fill_bar_time` (the bar filled in) are placed on those bars, not on the wall clock, and not
    on their signal's bar (an exit order keeps its entry's signal id)."""
    dash = Dashboard(backend, data_settings, fast_options())

    def feed(topic: str, records) -> dict | None:
        dash.apply_batch(Batch(topic, [ev(topic, r) for r in records], 0, time.time()))
        return dash.build_delta(False, False)

    wall = datetime(2024, 3, 5, 20, 0, tzinfo=timezone.utc)
    feed(PRICES, sim_bars(["AAPL"], 12))
    feed(SIGNALS, [signal("AAPL", 2, sid="s1")])
    entry = order("o1", "AAPL", "buy", 5, 5, 100.0, sid="s1", when=wall, bar_time=at(2),
                  fill_bar_time=at(3))
    exit_ = order("o1-horizon", "AAPL", "sell", 5, 5, 101.0, sid="s1", when=wall,
                  bar_time=at(9), fill_bar_time=at(10))
    unfilled = order("o2", "AAPL", "buy", 5, status="accepted", sid="s9", when=wall,
                     bar_time=at(11))
    sent = {o["client_order_id"]: o for o in feed(ORDERS, [entry, exit_, unfilled])["orders"]}
    assert (sent["o1"]["bar_t"], sent["o1"]["fill_t"]) == (at(2).timestamp(), at(3).timestamp())
    assert (sent["o1-horizon"]["bar_t"], sent["o1-horizon"]["fill_t"]) == (
        at(9).timestamp(), at(10).timestamp())
    assert (sent["o2"]["bar_t"], sent["o2"]["fill_t"]) == (at(11).timestamp(), None)
    assert {o["t"] for o in sent.values()} == {wall.timestamp()}  # the wall clock, kept aside
    assert not dash.state._awaiting  # dated by themselves: nothing waits for a signal
    # The realised P&L of the exit falls at its fill bar, in event time like the bars.
    assert list(dash.aggregator.symbols["AAPL"].realized) == [(at(10).timestamp(), 5.0)]
