"""The signal job end to end on Flink: bounded (backtest) and streaming runs of the same SQL."""

from __future__ import annotations

import csv
import json
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import talib

from backtest.run import run_backtest
from jobs.signal_job import file_job
from tests.conftest import eventually, shared_file
from tradeflow.contracts import Clock, TradingSignal, parse
from tradeflow.sentiment import score

from .stream_time import stream_watermark

pytestmark = pytest.mark.flink
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


def walk(n: int, seed: int, start: float = 100.0) -> list[float]:
    rng = random.Random(seed)
    closes, p = [], start
    for _ in range(n):
        p *= math.exp(rng.gauss(0, 0.004))
        closes.append(round(p, 4))
    return closes


def write_prices(path: Path, series: dict[str, list[float]]) -> list[list[str]]:
    rows = []
    for sym, closes in series.items():
        for i, c in enumerate(closes):
            t = (T0 + timedelta(minutes=i + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append([sym, t, c, c * 1.001, c * 0.999, c, 1000])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "timestamp", "open", "high", "low", "close", "volume"])
        w.writerows(rows)
    return rows


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, dict[str, list[float]]]:
    d = tmp_path_factory.mktemp("synthetic")
    series = {"AAA": walk(600, 1), "BBB": walk(600, 2, 50.0), "CCC": walk(600, 3, 20.0)}
    write_prices(d / "prices.csv", series)
    return d, series


@pytest.fixture(scope="module")
def bounded(synthetic, tmp_path_factory) -> Path:
    d, _ = synthetic
    out = tmp_path_factory.mktemp("bounded")
    run_backtest([d / "prices.csv"], [], out)
    return out


def test_bounded_run_writes_valid_signals_after_warm_up(bounded, synthetic):
    _, series = synthetic
    signals = [parse(TradingSignal, line) for line in (bounded / "signals.jsonl").read_text().splitlines()]
    assert len(signals) > 10
    assert {s.action.value for s in signals} == {"BUY", "SELL"}
    indicators = read_jsonl(bounded / "indicators.jsonl")
    assert len(indicators) == sum(map(len, series.values()))
    # No signal while any indicator is still warming up (MACD's signal line is the last: bar 33,
    # SMA50: bar 49, and a setup needs the previous bar too).
    first_bar = T0 + timedelta(minutes=51)
    assert min(s.bar_time for s in signals) >= first_bar
    for s in signals:
        assert all(v is not None for v in s.indicators.values())
        assert s.reason and s.strategy == "confluence"
        assert (s.stop_loss < s.price < s.take_profit) if s.action.value == "BUY" else \
            (s.take_profit < s.price < s.stop_loss)
    # Deterministic ids: the same input gives the same ids, and no two signals share one.
    assert len({s.signal_id for s in signals}) == len(signals)


def test_streaming_run_gives_the_same_signal_ids_at_parallelism_2(bounded, synthetic, tmp_path):
    d, series = synthetic
    topics = tmp_path / "topics"
    for topic in ("stock-prices", "market-news"):
        (topics / topic).mkdir(parents=True)
    # The same bars as the backtest, as NDJSON segments in the topic directory: one per source
    # subtask, each ending with a producer's clock, and a story-less news segment per subtask.
    # (A subtask without a clock holds the watermark back until it is idle: strategy.toml.)
    rows = sorted((T0 + timedelta(minutes=i + 1), sym, c)
                  for sym, closes in series.items() for i, c in enumerate(closes))
    clock = Clock(clock=rows[-1][0], source="test").to_json().decode()
    halves = [sorted(series)[n::2] for n in range(2)]  # a symbol's bars in one file, as on Kafka
    for n, symbols in enumerate(halves):
        with open(topics / "stock-prices" / f"00000000000{n + 1}.ndjson", "w") as f:
            for t, sym, c in (r for r in rows if r[1] in symbols):
                f.write(json.dumps({"v": 1, "symbol": sym, "event_time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "open": c, "high": c * 1.001, "low": c * 0.999, "close": c,
                                    "volume": 1000, "source": "test"}) + "\n")
            f.write(clock + "\n")
    for n in (1, 2):
        (topics / "market-news" / f"00000000000{n}.ndjson").write_text(clock + "\n")
    job = file_job("streaming", topics, parallelism=2, name="test-streaming")
    result = job.run(wait=False)
    expected = {s["signal_id"]: s for s in read_jsonl(bounded / "signals.jsonl")}
    # The watermark trails the newest bar, so the last bars stay open in a stream.
    last = stream_watermark(max(t for t, _, _ in rows))
    want = {k for k, s in expected.items() if datetime.fromisoformat(s["bar_time"].replace("Z", "+00:00")) <= last}
    out = topics / "trading-signals"
    def every_due_signal() -> dict[str, dict] | None:
        got = {s["signal_id"]: s for p in out.iterdir() if not p.name.startswith(".")
               for s in read_jsonl(p)}
        return got if want <= set(got) else None

    try:
        got = eventually(every_due_signal, "every signal due written", timeout=120, every=1)
    finally:
        result.get_job_client().cancel().result()
    assert want <= set(got)
    assert set(got) <= set(expected)
    for k in want:  # same decision, same numbers
        a, b = got[k], expected[k]
        assert (a["action"], a["strength"], a["reason"]) == (b["action"], b["strength"], b["reason"])
        assert a["indicators"] == pytest.approx(b["indicators"], rel=1e-12)


def test_news_counts_only_when_published_by_the_bar_end(tmp_path):
    closes = walk(400, 11)
    # Three symbols with the same prices: news exactly at a BUY bar's end, news one
    # millisecond after it, and no news.
    write_prices(tmp_path / "prices.csv", {"AAA": closes, "BBB": closes, "CCC": closes})
    quiet = tmp_path / "quiet"
    run_backtest([tmp_path / "prices.csv"], [], quiet)
    buys = [s for s in read_jsonl(quiet / "signals.jsonl") if s["symbol"] == "AAA" and s["action"] == "BUY"]
    assert buys, "the synthetic series should produce a BUY"
    bar = datetime.fromisoformat(buys[0]["bar_time"].replace("Z", "+00:00"))
    bad = "Company issues profit warning, cuts outlook; shares plunge as losses widen"
    news = tmp_path / "news.csv"
    with open(news, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "symbols", "headline", "summary", "source", "published_at", "url"])
        w.writerow(["n1", "AAA", bad, "", "test", bar.isoformat(), ""])
        w.writerow(["n2", "BBB", bad, "", "test", (bar + timedelta(milliseconds=1)).isoformat(), ""])
    newsy = tmp_path / "newsy"
    run_backtest([tmp_path / "prices.csv"], [news], newsy)
    by = {(s["symbol"], s["bar_time"]): s for s in read_jsonl(newsy / "signals.jsonl")}
    key = buys[0]["bar_time"]
    assert ("AAA", key) not in by, "negative news at the bar's end must veto the BUY"
    assert by[("BBB", key)]["sentiment"] is None, "news after the bar's end must not be seen"
    assert by[("CCC", key)]["action"] == "BUY"
    # The news is seen by later bars of BBB, decaying but present.
    later = [s for s in by.values() if s["symbol"] == "BBB" and s["bar_time"] > key]
    assert all(s["sentiment"] is not None and s["sentiment"] < 0 for s in later if s["sentiment"] is not None)


def test_sentiment_is_the_decayed_mean_of_the_look_back(tmp_path):
    """At every signal, sentiment and story count equal a direct computation: the stories
    published by the bar's end and within the look-back (24 h), each weighing 0.5^(age / 6 h)."""
    write_prices(tmp_path / "prices.csv", {"AAA": walk(2000, 5)})
    headlines = ["Profit soars as record sales beat forecasts", "Shares plunge after profit warning",
                 "Company reports quarterly results", "Upgrade: strong growth, raised outlook",
                 "Losses widen; shares slump on weak demand", "Record quarter, dividend raised"]
    minutes = [100, 130.5, 400, 405, 1000, 1700]  # the first two leave the look-back before the end
    stories = [(T0 + timedelta(minutes=m), h) for m, h in zip(minutes, headlines)]
    news = tmp_path / "news.csv"
    with open(news, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "symbols", "headline", "summary", "source", "published_at", "url"])
        for i, (t, h) in enumerate(stories):
            w.writerow([f"n{i}", "AAA", h, "", "test", t.isoformat(), ""])
    run_backtest([tmp_path / "prices.csv"], [news], tmp_path / "out")
    scores = [(t, score(h, "finance").score) for t, h in stories]
    seen = 0
    for s in read_jsonl(tmp_path / "out" / "signals.jsonl"):
        bar = datetime.fromisoformat(s["bar_time"].replace("Z", "+00:00"))
        live = [(t, x) for t, x in scores if bar - timedelta(hours=24) <= t <= bar]
        if not live:
            assert s["sentiment"] is None and "no recent news" in s["reason"]
            continue
        w = [0.5 ** ((bar - t).total_seconds() / (6 * 3600)) for t, _ in live]
        assert s["sentiment"] == pytest.approx(sum(a * x for a, (_, x) in zip(w, live)) / sum(w),
                                               rel=1e-12, abs=1e-15)
        assert f"{len(live)} stories)" in s["reason"]
        seen += len(live) > 1
    assert seen >= 5, "too few signals with several stories in the look-back to test the weighting"


@pytest.mark.shared_data
def test_real_minute_bars_unordered_with_duplicates_and_dirt(tmp_path):
    src = shared_file("lean-us-equity-minute/lean_minute_trade_bars.csv")
    lines = src.read_text().splitlines()
    header, body = lines[0], lines[1:]
    rng = random.Random(4)
    dirty = body + rng.sample(body, 500) + ["AAPL,2014-06-09 10:00:00,1,2,3,,5", "not,a,row"]
    rng.shuffle(dirty)
    (tmp_path / "prices.csv").write_text("\n".join([header, *dirty]) + "\n")
    out = tmp_path / "out"
    result = run_backtest([tmp_path / "prices.csv"], [], out)
    assert result.rejected == 2
    reasons = [json.loads(x)["reason"] for x in (out / "dead-letter.jsonl").read_text().splitlines()]
    assert any("close is empty" in r for r in reasons) and any("columns" in r for r in reasons)
    rows = read_jsonl(out / "indicators.jsonl")
    assert len(rows) == len(body) == len({(r["symbol"], r["timestamp"]) for r in rows})
    # Duplicates counted once: the indicators equal TA-Lib on each symbol's distinct bars.
    for sym in {r["symbol"] for r in rows}:
        mine = [r for r in rows if r["symbol"] == sym]
        close = np.array([r["close"] for r in mine])
        expected = talib.RSI(close, 14)
        got = np.array([np.nan if r["rsi_14"] is None else r["rsi_14"] for r in mine])
        assert np.allclose(got, expected, rtol=1e-9, equal_nan=True), sym
    # AAPL's 7:1 split on 2014-06-09 is a gap: no signal until the indicators re-warm after it.
    aapl = [r for r in rows if r["symbol"] == "AAPL"]
    gap = next(i for i in range(1, len(aapl)) if aapl[i]["close"] < aapl[i - 1]["close"] * 0.5)
    quiet_until = aapl[gap + 49]["timestamp"]
    signals = read_jsonl(out / "signals.jsonl")
    assert not [s for s in signals if s["symbol"] == "AAPL" and aapl[gap]["timestamp"] <= s["bar_time"] <= quiet_until]


@pytest.mark.parametrize("mode", ["streaming", "bounded"])
def test_both_outputs_share_one_window_and_one_python_udf(tmp_path, mode):
    """Signals and per-bar indicators come from one plan: the OVER window and the sentiment UDF
    run once however many sinks read them (per-INSERT SQL views would duplicate both)."""
    from jobs.signal_job import define

    job = file_job("bounded", tmp_path / "topics", indicators=str(tmp_path / "ind"))
    ddl, inserts = job.statements()
    job.mode = mode  # the bounded connectors, planned for both runtimes
    env = job.environment()
    define(env, ddl)
    statements = env.create_statement_set()
    for insert in inserts:
        statements.add_insert_sql(insert)
    plan = statements.explain().split("== Optimized Execution Plan ==")[-1]
    assert plan.count("PythonCalc(") == 1
    assert plan.count("OverAggregate(") == 1
    # Repeated bars are dropped inside the window: no deduplication operator or state of its own.
    assert "Deduplicate(" not in plan and "Rank(" not in plan


def _streamed_signals(topics: Path) -> list[dict]:
    """The streaming job over topic directories that are read once, so it ends by itself."""
    file_job("bounded", topics, name="test-streaming-drain").run(runtime="streaming")
    out = topics / "trading-signals"
    return [s for p in sorted(out.rglob("*")) if p.is_file() and not p.name.startswith(".")
            for s in read_jsonl(p)]


def test_streaming_counts_news_by_publication_and_repeated_bars_once(tmp_path):
    """Streaming, where arrival is not event-time order: the news topic is read long before the
    bars it concerns, and a bar may come twice with different values. A story published at a
    bar's end counts for that bar, one published 1 ms later does not (though it arrived first);
    a repeated bar counts once, the first delivery winning, and emits no second row."""
    closes = walk(400, 11)
    write_prices(tmp_path / "prices.csv", {"AAA": closes})
    quiet = run_backtest([tmp_path / "prices.csv"], [], tmp_path / "quiet")
    assert quiet.signals
    buy = next(s for s in read_jsonl(tmp_path / "quiet" / "signals.jsonl") if s["action"] == "BUY")
    bar = datetime.fromisoformat(buy["bar_time"].replace("Z", "+00:00"))

    topics = tmp_path / "topics"
    for topic in ("stock-prices", "market-news"):
        (topics / topic).mkdir(parents=True)
    bad = "Company issues profit warning, cuts outlook; shares plunge as losses widen"
    with open(topics / "market-news" / "000000000001.ndjson", "w") as f:
        for sid, sym, at in (("n1", "AAA", bar), ("n2", "BBB", bar + timedelta(milliseconds=1))):
            f.write(json.dumps({"v": 1, "id": sid, "symbols": [sym], "headline": bad, "summary": "",
                                "source": "test", "published_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                                "url": None}) + "\n")
    with open(topics / "stock-prices" / "000000000001.ndjson", "w") as f:
        for i, c in enumerate(closes):
            t = (T0 + timedelta(minutes=i + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            # DDD's every third bar comes again, 5 % higher: a correction that came too late.
            deliveries = [(s, c) for s in ("AAA", "BBB", "CCC", "DDD")] + ([("DDD", c * 1.05)] if i % 3 == 0 else [])
            for sym, price in deliveries:
                f.write(json.dumps({"v": 1, "symbol": sym, "event_time": t, "open": price,
                                    "high": price * 1.001, "low": price * 0.999, "close": price,
                                    "volume": 1000, "source": "test"}) + "\n")
    signals = _streamed_signals(topics)
    by = {(s["symbol"], s["bar_time"]): s for s in signals}
    key = buy["bar_time"]
    assert ("AAA", key) not in by, "negative news at the bar's end must veto the BUY"
    assert by[("BBB", key)]["action"] == "BUY" and by[("BBB", key)]["sentiment"] is None, \
        "news 1 ms after the bar's end must not be seen"
    assert by[("CCC", key)]["action"] == "BUY"
    # DDD saw the same first deliveries as CCC: the same signals, one per bar, the same numbers.
    ccc = {s["bar_time"]: s for s in signals if s["symbol"] == "CCC"}
    ddd = [s for s in signals if s["symbol"] == "DDD"]
    assert len(ddd) == len({s["bar_time"] for s in ddd}) == len(ccc) > 0
    for s in ddd:
        twin = ccc[s["bar_time"]]
        assert (s["action"], s["price"], s["reason"]) == (twin["action"], twin["price"], twin["reason"])
        assert s["indicators"] == twin["indicators"]
