"""The backtest's column reader of price files (backtest/price_files.py) against the row reader
it stands in for (tradeflow.datasets): on any file it either declines (None: the row reader reads
it) or gives exactly the bars the row reader gives, in its order, and the same `stock-prices`
records. A file with a row the row reader refuses is always declined."""

from __future__ import annotations

import io
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from hypothesis import event, given
from hypothesis import strategies as st

from backtest.data import bars_table
from backtest.price_files import read_prices, write_ndjson
from tests.conftest import shared_file
from tests.fuzz.common import DATASET_EXAMPLES, fuzz_settings
from tradeflow.datasets import Rejected, load

HEADERS = {"normalized": "symbol,timestamp,open,high,low,close,volume",
           "lean-minute": "symbol,bar_start_et,open,high,low,close,volume"}
# Around New York's clock changes of 2024 (a skipped and a repeated hour) and a plain day.
STARTS = [datetime(2024, 3, 10, 1, 55), datetime(2024, 11, 3, 0, 55), datetime(2024, 6, 3, 9, 30)]
numbers = st.sampled_from(["100", "100.5", "101", "99.5", "0", "-1", "1e3", "NaN", "inf", " 100 ",
                           "100_0", "", "1e400"])
symbols = st.sampled_from(["AAPL", "MSFT", "BRK.B", "aapl", " AAPL ", "TOOLONG", ""])


@st.composite
def price_file(draw) -> tuple[str, str]:
    fmt = draw(st.sampled_from(sorted(HEADERS)))
    start = draw(st.sampled_from(STARTS))
    dirty = draw(st.booleans())  # half the files hold only rows of the usual form
    rows = []
    for i in range(draw(st.integers(1, 40))):
        t = start + timedelta(minutes=draw(st.integers(0, 180)) if draw(st.booleans()) else i)
        when = t.strftime("%Y-%m-%dT%H:%M:%SZ" if fmt == "normalized" else "%Y-%m-%d %H:%M:%S")
        if dirty and draw(st.integers(0, 9)) == 0:  # a time in another form, or none
            when = draw(st.sampled_from(["", t.isoformat(), "2024-02-30 10:00:00", "yesterday"]))
        o, h, lo, c = (draw(numbers) for _ in range(4)) if dirty and draw(st.booleans()) else \
            ("100", "101", "99.5", "100.5")
        row = ",".join([draw(symbols) if dirty and draw(st.booleans()) else "AAPL", when,
                        o, h, lo, c, draw(st.sampled_from(["1000", "0", "-5", "1.5"]))
                        if dirty else "1000"])
        if dirty and draw(st.integers(0, 9)) == 0:  # a field more or less, or a blank line
            row = draw(st.sampled_from([row + ",1", row.rsplit(",", 1)[0], ""]))
        rows.append(row)
    return fmt, HEADERS[fmt] + "\n" + "\n".join(rows) + draw(st.sampled_from(["\n", "", "\r\n"]))


def both_readers(paths: list[Path]) -> tuple[pd.DataFrame | None, pd.DataFrame, list[Rejected]]:
    bars, rejected = load(paths, "prices")
    return read_prices(paths), bars_table(bars), rejected


def assert_same(fast: pd.DataFrame, slow: pd.DataFrame, bars) -> None:
    pd.testing.assert_frame_equal(fast.reset_index(drop=True), slow.reset_index(drop=True),
                                  check_dtype=False)
    out = io.BytesIO()
    write_ndjson(out, fast)
    assert out.getvalue().splitlines() == [b.to_json() for b in bars]


@fuzz_settings(DATASET_EXAMPLES * 4)
@given(price_file())
def test_column_reader_declines_or_reads_what_the_row_reader_reads(case):
    fmt, text = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{fmt}.csv"
        path.write_text(text)
        fast, slow, rejected = both_readers([path])
        event("declined" if fast is None else "read by columns")
        if fast is None:
            return
        assert not rejected, "the column reader took a file the row reader refuses rows of"
        assert_same(fast, slow, load([path], "prices")[0])


def test_column_reader_reads_the_real_minute_bars_as_the_row_reader_does():
    path = shared_file("lean-us-equity-minute/lean_minute_trade_bars.csv")
    fast, slow, rejected = both_readers([path])
    assert fast is not None and not rejected
    assert_same(fast, slow, load([path], "prices")[0])
