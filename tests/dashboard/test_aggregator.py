"""The per-stock aggregator against hand-computed figures."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dashboard.aggregator import Aggregator, bar_stats, parse_window, session_start

from .conftest import at


def ts(minute: float) -> float:
    return at(minute).timestamp()


def three_bars(agg: Aggregator, symbol: str = "AAPL") -> None:
    # Typical prices (h + l + c) / 3 are 101, 102 and 103; volumes 1000, 2000, 1000.
    agg.add_bar(symbol, ts(0), 100, 102, 99, 102, 1000)
    agg.add_bar(symbol, ts(1), 101, 104, 100, 102, 2000)
    agg.add_bar(symbol, ts(2), 102, 105, 101, 103, 1000)


def test_session_figures() -> None:
    agg = Aggregator()
    # The day before, 15:00 New York: not part of this session.
    agg.add_bar("AAPL", datetime(2024, 3, 4, 20, 0, tzinfo=timezone.utc).timestamp(),
                90, 95, 80, 91, 50_000)
    three_bars(agg)
    s = agg.summary("session")["symbols"]["AAPL"]
    assert s["bars"] == 3
    assert s["open"] == 100 and s["last"] == 103
    assert s["change"] == pytest.approx(3.0) and s["change_pct"] == pytest.approx(3.0)
    assert s["high"] == 105 and s["low"] == 99
    assert s["volume"] == 4000
    # (101 x 1000 + 102 x 2000 + 103 x 1000) / 4000
    assert s["vwap"] == pytest.approx(102.0)
    assert s["complete"] is True


def test_window_figures() -> None:
    agg = Aggregator()
    three_bars(agg)
    s = agg.summary("2m")["symbols"]["AAPL"]  # bars ending after latest - 2 min: the last two
    assert s["bars"] == 2
    assert s["open"] == 101 and s["last"] == 103
    assert s["change"] == pytest.approx(2.0)
    assert s["change_pct"] == pytest.approx(200 / 101, abs=1e-4)
    assert (s["high"], s["low"], s["volume"]) == (105, 100, 3000)
    assert s["vwap"] == pytest.approx((102 * 2000 + 103 * 1000) / 3000, abs=1e-4)
    one = agg.summary("60s")["symbols"]["AAPL"]
    assert one["bars"] == 1 and one["vwap"] == pytest.approx(103.0)


def test_session_starts_at_midnight_new_york() -> None:
    t = datetime(2024, 3, 5, 14, 33, tzinfo=timezone.utc).timestamp()
    assert session_start(t) == datetime(2024, 3, 5, 5, 0, tzinfo=timezone.utc).timestamp()  # EST
    t = datetime(2024, 7, 1, 14, 33, tzinfo=timezone.utc).timestamp()
    assert session_start(t) == datetime(2024, 7, 1, 4, 0, tzinfo=timezone.utc).timestamp()  # EDT
    agg = Aggregator()
    midnight = datetime(2024, 3, 5, 5, 0, tzinfo=timezone.utc).timestamp()
    agg.add_bar("X", midnight, 10, 10, 10, 10, 1)  # ends at 00:00: the previous day's last bar
    agg.add_bar("X", midnight + 60, 11, 11, 11, 11, 1)
    assert agg.summary()["symbols"]["X"]["bars"] == 1


def test_redelivered_and_late_bars_are_not_double_counted() -> None:
    agg = Aggregator()
    three_bars(agg)
    agg.add_bar("AAPL", ts(2), 102, 105, 101, 103, 1000)  # at-least-once: same bar again
    agg.add_bar("AAPL", ts(1), 101, 104, 100, 102, 2000)  # an older one, late
    s = agg.summary()["symbols"]["AAPL"]
    assert s["volume"] == 4000 and s["bars"] == 3


def test_retention_is_bounded_and_flagged() -> None:
    agg = Aggregator(retention=10)
    for i in range(25):
        agg.add_bar("AAPL", ts(i), 100, 101, 99, 100, 1)
    assert len(agg.symbols["AAPL"].bars) == 10
    assert agg.summary("5m")["symbols"]["AAPL"]["complete"] is True
    assert agg.summary("session")["symbols"]["AAPL"]["complete"] is False


def test_signal_counts_per_range_and_dedup() -> None:
    agg = Aggregator()
    three_bars(agg)
    agg.add_signal("a", "AAPL", ts(0), "BUY")
    agg.add_signal("b", "AAPL", ts(1), "BUY")
    agg.add_signal("c", "AAPL", ts(2), "SELL")
    agg.add_signal("c", "AAPL", ts(2), "SELL")  # redelivered
    assert agg.summary()["symbols"]["AAPL"]["signals"] == {"buy": 2, "sell": 1, "total": 3}
    assert agg.summary("2m")["symbols"]["AAPL"]["signals"] == {"buy": 1, "sell": 1, "total": 2}
    assert agg.summary()["totals"]["buy_signals"] == 2


def test_pnl_average_cost_partial_fills_and_flip() -> None:
    agg = Aggregator()
    three_bars(agg)  # last close 103
    for sid, minute in (("s1", 0), ("s2", 1), ("s3", 2), ("s4", 2)):
        agg.add_signal(sid, "AAPL", ts(minute), "BUY")
    now = ts(100)  # the orders' own (wall) time: fills are dated by their signal instead
    agg.add_order("o1", "s1", "AAPL", "buy", 10, 100.0, now)
    agg.add_order("o2", "s2", "AAPL", "buy", 10, 102.0, now)  # long 20 @ 101
    held = agg.book.holdings["AAPL"]
    assert (held.qty, held.avg_price) == (20, pytest.approx(101.0))
    # A sell filled in two steps: 5 @ 104, then 15 @ 104.5 on average, i.e. 10 more @ 104.75.
    assert agg.add_order("o3", "s3", "AAPL", "sell", 5, 104.0, now)
    assert agg.add_order("o3", "s3", "AAPL", "sell", 15, 104.5, now)
    assert not agg.add_order("o3", "s3", "AAPL", "sell", 15, 104.5, now)  # redelivered
    s = agg.summary()["symbols"]["AAPL"]
    assert s["realized_pnl"] == pytest.approx(5 * 3 + 10 * 3.75)  # 52.5
    assert s["position"] == {"qty": 5, "avg_price": 101.0}
    assert s["unrealized_pnl"] == pytest.approx(5 * (103 - 101))
    assert s["total_pnl"] == pytest.approx(62.5)
    # Sell 10 @ 100: closes 5 (realises -5), then opens a short of 5 @ 100.
    agg.add_order("o4", "s4", "AAPL", "sell", 10, 100.0, now)
    s = agg.summary()["symbols"]["AAPL"]
    assert s["realized_pnl"] == pytest.approx(47.5)
    assert s["position"] == {"qty": -5, "avg_price": 100.0}
    assert s["unrealized_pnl"] == pytest.approx(-5 * (103 - 100))
    # Windows: the realisations of o3 and o4 are dated 14:33 (their signals' bar), inside 2m.
    assert agg.summary("2m")["symbols"]["AAPL"]["realized_pnl"] == pytest.approx(47.5)
    t = agg.summary()["totals"]
    assert t["realized_pnl"] == pytest.approx(47.5) and t["unrealized_pnl"] == pytest.approx(-15)
    assert t["open_positions"] == 1


def test_realised_pnl_outside_a_window_is_excluded() -> None:
    agg = Aggregator()
    for i in range(30):
        agg.add_bar("MSFT", ts(i), 50, 51, 49, 50, 10)
    agg.add_signal("buy", "MSFT", ts(0), "BUY")
    agg.add_signal("sell", "MSFT", ts(5), "SELL")
    agg.add_order("b", "buy", "MSFT", "buy", 10, 40.0, ts(0))
    agg.add_order("s", "sell", "MSFT", "sell", 10, 45.0, ts(5))
    assert agg.summary("session")["symbols"]["MSFT"]["realized_pnl"] == pytest.approx(50)
    assert agg.summary("15m")["symbols"]["MSFT"]["realized_pnl"] == 0
    assert agg.summary("15m")["symbols"]["MSFT"]["realized_pnl_all"] == pytest.approx(50)


def test_unfilled_orders_do_not_move_positions() -> None:
    agg = Aggregator()
    assert not agg.add_order("x", "s", "AAPL", "buy", 0, None, ts(0))
    assert agg.summary()["totals"]["open_positions"] == 0


def test_parse_window() -> None:
    assert parse_window("15m") == 900 and parse_window("1h") == 3600
    assert parse_window("30s") == 30 and parse_window("1.5d") == 129_600
    assert parse_window("session") is None and parse_window(None) is None
    for bad in ("15", "m", "-5m", "0m", "1w", "abc"):
        with pytest.raises(ValueError):
            parse_window(bad)


def test_bar_stats_empty_and_zero_volume() -> None:
    assert bar_stats([])["vwap"] is None
    assert bar_stats([(0, 1, 2, 0.5, 1.5, 0)])["vwap"] is None


def test_an_exit_is_dated_by_the_bar_it_filled_in() -> None:
    """A stop that fills an hour after its entry's signal realises its P&L in that later bar."""
    agg = Aggregator()
    for i in range(90):
        agg.add_bar("MSFT", ts(i), 50, 51, 49, 50, 10)
    agg.add_signal("buy", "MSFT", ts(0), "BUY")
    agg.add_order("b", "buy", "MSFT", "buy", 10, 50.0, ts(100))
    agg.add_order("b-stop_loss", "buy", "MSFT", "sell", 10, 49.0, ts(100), fill_t=ts(80))
    assert agg.summary("15m")["symbols"]["MSFT"]["realized_pnl"] == pytest.approx(-10)
    assert agg.summary("5m")["symbols"]["MSFT"]["realized_pnl"] == 0
