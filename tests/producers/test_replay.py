"""Replay and importers: real files from ../shared/data, dirt to dead-letter, time order."""

from __future__ import annotations

import json
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from tests.conftest import drain, shared_file
from tradeflow.cli import cli
from tradeflow import datasets as importers
from tradeflow.contracts import DeadLetter, NewsItem, PriceBar, parse
from producers.progress import Progress
from producers.replay import sources
from tradeflow.datasets import Rejected, event_time, load
from tradeflow.topics.file import FileBackend



def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.shared_data
def test_lean_minute_bars_are_bar_end_in_utc():
    path = shared_file("lean-us-equity-minute/lean_minute_trade_bars.csv")
    rows = list(importers.read(path))
    assert not [r for r in rows if isinstance(r, Rejected)]
    first = rows[0]
    assert isinstance(first, PriceBar)
    # AAPL,2014-06-05 04:15:00 (New York, EDT = UTC-4) starts the bar; it ends a minute later.
    assert (first.symbol, first.event_time) == ("AAPL", datetime(2014, 6, 5, 8, 16, tzinfo=timezone.utc))
    assert Counter(r.symbol for r in rows)["SPY"] == 5786


@pytest.mark.shared_data
def test_sp500_blanks_and_analyst_rating_breaks_go_to_dead_letter():
    prices = list(importers.read(shared_file(
        "sp500-daily-2013-2018/sp500_daily_subset_2013-02-08_2018-02-07.csv")))
    bad = [r.reason for r in prices if isinstance(r, Rejected)]
    assert len(bad) == 3 and sum("open is empty" in r for r in bad) == 2
    assert any(r.endswith(":31912: open 78.47 outside [low 80.49, high 81.305]") for r in bad)
    good = [r for r in prices if not isinstance(r, Rejected)]
    assert good[0].event_time == datetime(2013, 2, 8, 21, 0, tzinfo=timezone.utc)  # 16:00 EST

    news = list(importers.read(shared_file(
        "stock-news-analyst-ratings/analyst_ratings_processed_first10000.csv")))
    broken = [r for r in news if isinstance(r, Rejected)]
    assert len(broken) == 4 and all("columns" in r.reason for r in broken)
    ok = [r for r in news if isinstance(r, NewsItem)]
    assert ok[0].published_at == datetime(2020, 6, 5, 14, 30, tzinfo=timezone.utc)


@pytest.mark.shared_data
def test_yahoo_prices_and_tweets():
    [bar, *_] = [r for r in importers.read(shared_file("stocknet-tweets-prices/price_raw/AAPL.csv"))]
    assert bar.symbol == "AAPL" and bar.close == pytest.approx(96.424286)
    tweets = importers.read(shared_file("stocknet-tweets-prices/stocknet_tweets_8tickers.csv"))
    first = next(iter(tweets))
    assert isinstance(first, NewsItem) and first.id == "tw-418157151946035200"
    assert "\n" not in first.headline


@pytest.mark.shared_data
def test_replay_of_a_real_file_publishes_every_bar_in_time_order(settings):
    path = shared_file("lean-us-equity-minute/lean_minute_trade_bars.csv")
    run_cli("produce", "replay", "--prices", str(path), "--speed", "0")
    bars = [parse(PriceBar, v) for v in drain(FileBackend(settings.path()), "stock-prices")]
    assert len(bars) == 21258
    assert [b.event_time for b in bars] == sorted(b.event_time for b in bars)
    assert {b.source for b in bars} == {"replay:lean_minute_trade_bars.csv"}


def test_normalized_csv_unordered_with_dirt(settings, tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "symbol,timestamp,open,high,low,close,volume\n"
        "MSFT,2024-01-02T14:32:00Z,10,11,9,10.5,100\n"
        "AAPL,2024-01-02T14:31:00Z,10,11,9,10.5,100\n"
        "AAPL,2024-01-02T14:33:00,10,11,9,10.5,100\n"  # no zone
        "AAPL,2024-01-02T14:34:00Z,10,9,11,10.5,100\n"  # high < low
        "AAPL,2024-01-02T14:35:00Z,10,11,9,abc,100\n"
        "aapl!,2024-01-02T14:36:00Z,10,11,9,10,100\n"
        "AAPL,2024-01-02T14:37:00Z,10,11,9,10\n")
    news = tmp_path / "news.csv"
    news.write_text("id,symbols,headline,summary,source,published_at,url\n"
                    "n1,AAPL;MSFT,Apple beats,,wire,2024-01-02T14:31:30Z,\n")
    run_cli("produce", "replay", "--prices", str(prices), "--news", str(news))
    b = FileBackend(settings.path())
    bars = [parse(PriceBar, v) for v in drain(b, "stock-prices")]
    assert [(x.symbol, x.event_time.minute) for x in bars] == [("AAPL", 31), ("MSFT", 32)]
    [item] = [parse(NewsItem, v) for v in drain(b, "market-news")]
    assert item.symbols == ["AAPL", "MSFT"] and item.url is None
    reasons = [parse(DeadLetter, v).reason for v in drain(b, "dead-letter")]
    assert len(reasons) == 5
    for expected in ("prices.csv:4: timestamp has no time zone", "high 9.0 < low 11.0",
                     "close is not a number", "unknown symbol format", "expected 7 columns"):
        assert any(expected in r for r in reasons), (expected, reasons)


def test_unknown_format_is_a_clear_error(settings, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a,b,c\n1,2,3\n")
    result = CliRunner().invoke(cli, ["produce", "replay", "--prices", str(f)])
    assert result.exit_code == 1
    assert "unrecognised CSV header" in result.output and "lean-minute" in result.output


def test_load_sorts_across_files(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("symbol,timestamp,open,high,low,close,volume\nAAA,2024-01-02T14:35:00Z,1,1,1,1,1\n")
    b.write_text("symbol,timestamp,open,high,low,close,volume\nBBB,2024-01-02T14:31:00Z,1,1,1,1,1\n")
    items, rejected = load([a, b], "prices")
    assert [i.symbol for i in items] == ["BBB", "AAA"] and rejected == []


def test_sim_cli_is_repeatable(settings):
    run_cli("produce", "sim", "--symbols", "AAPL,MSFT", "--seed", "3", "--bars", "20",
            "--speed", "0", "--start", "2024-01-02T14:30:00Z")
    b = FileBackend(settings.path())
    first = drain(b, "stock-prices")
    assert len(first) == 40
    assert json.loads(first[0])["event_time"] == "2024-01-02T14:31:00Z"
    run_cli("--data-dir", str(settings.path() / "again"), "produce", "sim", "--symbols",
            "AAPL,MSFT", "--seed", "3", "--bars", "20", "--speed", "0", "--start",
            "2024-01-02T14:30:00Z")
    assert drain(FileBackend(settings.path() / "again"), "stock-prices") == first


def test_sim_restart_continues_where_it_stopped(settings):
    args = ("produce", "sim", "--symbols", "AAPL", "--seed", "5", "--bars", "10", "--speed", "0",
            "--start", "2024-01-02T14:30:00Z")
    run_cli(*args)
    run_cli(*args)
    times = [json.loads(v)["event_time"] for v in drain(FileBackend(settings.path()), "stock-prices")]
    assert len(times) == 20 and len(set(times)) == 20
    assert times[10] == "2024-01-02T14:41:00Z"
    # The same bars as one uninterrupted run of 20.
    once = [("20" if a == "10" else a) for a in args]
    run_cli("--data-dir", str(settings.path() / "once"), *once)
    assert drain(FileBackend(settings.path()), "stock-prices") == \
        drain(FileBackend(settings.path() / "once"), "stock-prices")


def _normalized(path, rows: int, start_minute: int = 0) -> None:
    with path.open("w") as f:
        f.write("symbol,timestamp,open,high,low,close,volume\n")
        for i in range(start_minute, start_minute + rows):
            f.write(f"AAPL,{datetime(2024, 1, 2, tzinfo=timezone.utc) + timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ},"
                    "10,11,9,10.5,100\n")


def test_replay_streams_a_file_in_time_order_in_bounded_memory(tmp_path):
    """The peak memory of reading a file through the replay's merge does not grow with the file
    (loading it whole grew it fourfold for four times the rows)."""
    def peak(rows: int) -> int:
        path = tmp_path / f"{rows}.csv"
        _normalized(path, rows)
        tracemalloc.start()
        items, total = sources([path], [], reject=lambda r: None)
        assert sum(1 for _ in items) == total == rows
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    assert peak(4_000) < 1.5 * peak(1_000)


def test_replay_merges_files_news_first_and_sorts_a_file_out_of_order(tmp_path, caplog):
    ordered, unordered = tmp_path / "a.csv", tmp_path / "b.csv"
    _normalized(ordered, 3)  # minutes 0, 1, 2
    unordered.write_text("symbol,timestamp,open,high,low,close,volume\n"
                         "MSFT,2024-01-02T00:02:00Z,1,1,1,1,1\nMSFT,2024-01-02T00:01:00Z,1,1,1,1,1\n"
                         "MSFT,bad,1,1,1,1,1\n")
    news = tmp_path / "n.csv"
    news.write_text("id,symbols,headline,summary,source,published_at,url\n"
                    "n1,AAPL,Apple beats,,wire,2024-01-02T00:01:00Z,\n")
    rejected: list[Rejected] = []
    with caplog.at_level("INFO"):
        items, total = sources([ordered, unordered], [news], rejected.append)
        got = [(getattr(i, "symbol", "news"), event_time(i).minute) for i in items]
    assert got == [("AAPL", 0), ("news", 1), ("AAPL", 1), ("MSFT", 1), ("AAPL", 2), ("MSFT", 2)]
    assert total == 6 and [r.reason.split(":")[:2] for r in rejected] == [["b.csv", "4"]]
    assert "b.csv is not in time order: sorting its 2 records in memory" in caplog.text


def test_progress_gives_the_share_done_and_the_time_left():
    p = Progress("replay", live=False)
    assert "ETA" not in p.line()
    p.total = 400
    p.add("stock-prices", 100)
    p.add("dead-letter", 7)  # refused rows are not part of the total
    assert "100/400 (25%), ETA" in p.line()
