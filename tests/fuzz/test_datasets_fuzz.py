"""Fuzz of the CSV importers: a file in any known format, with plausible and garbage rows, reads
as exactly one record or `Rejected` per row written, in order, each rejection naming the file and
the line its row starts on. Nothing raises."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.common import DATASET_EXAMPLES, fuzz_settings, odd_text, timestamps
from tradeflow.contracts import NewsItem, PriceBar
from tradeflow.datasets import FORMATS, Format, Rejected, read
from tradeflow.deadletter import MAX_ORIGINAL

LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what the reader's text file splits lines on
FIELD_LIMIT = csv.field_size_limit()

PRICE_COLUMNS = {"open", "high", "low", "close", "volume"}
TIME_COLUMNS = {"timestamp", "bar_start_et", "date", "published_at", "created_at_utc"}
SYMBOL_COLUMNS = {"symbol", "name", "stock", "ticker", "symbols"}

# What float() takes but no data file means (`100_0`, other scripts' digits), what it refuses,
# and what overflows or is not a price.
odd_numbers = st.sampled_from(["0", "-1", "+5", ".5", "5.", "1e3", "1e400", "-1e400", "NaN", "nan",
                               "inf", "-Infinity", "100_0", "\u0661\u0660\u0660", "\uff11",
                               "1,000", " 100 ", "0x10", "", "1e", "--1"])
symbols = st.sampled_from(["AAPL", "MSFT", "BRK.B", "A", "aapl", " AAPL ", "AAPL;MSFT", "AAPL MSFT",
                           "TOOLONG", "AAPL.XYZ", ""])
# Fields over the csv module's limit; a line break may sit before the limit or after it.
huge = st.builds(lambda head, n, tail: head + "9" * n + tail, odd_text,
                 st.sampled_from([FIELD_LIMIT - 2, FIELD_LIMIT, FIELD_LIMIT + 1, 2 * FIELD_LIMIT]),
                 st.sampled_from(["", "\n", "\r\n,AAPL"]) | odd_text)
garbage = st.one_of(odd_text, odd_numbers, timestamps,
                    st.just("\udcff\udc80"))  # written as the bytes FF 80: invalid UTF-8
aware_times = st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-5))]))


def well_formed(column: str, daily: bool) -> st.SearchStrategy[str]:
    """What a good file holds in this column (prices aside), over the whole calendar."""
    name = column.lower()
    if name == "date" and daily:  # analyst ratings' `date` is a zoned time
        return st.dates().map(str)
    if name == "bar_start_et":
        return st.datetimes().map(datetime.isoformat)
    if name in TIME_COLUMNS:
        return aware_times.map(datetime.isoformat)
    if name in SYMBOL_COLUMNS:
        return st.sampled_from(["AAPL", "MSFT", "BRK.B"])
    return st.text(min_size=1, max_size=30)


def plausible(column: str) -> st.SearchStrategy[str]:
    name = column.lower()
    if name in PRICE_COLUMNS:
        return st.floats(0.01, 1e6).map(repr) | odd_numbers
    if name in TIME_COLUMNS:
        return timestamps
    if name in SYMBOL_COLUMNS:
        return symbols
    return odd_text


@st.composite
def rows(draw: st.DrawFn, header: list[str], daily: bool) -> list[str]:
    """One data row: a coherent one (low <= open, close <= high, each field well formed, so it
    can become a record), one of plausible and garbage cells, or one with too few or too many."""
    style = draw(st.sampled_from(["coherent", "mixed", "misshapen"]))
    if style == "coherent":
        low = draw(st.floats(0.01, 1e6))
        high = low + draw(st.floats(0, 1e3))
        prices = {"low": low, "high": high, "open": draw(st.floats(low, high)),
                  "close": draw(st.floats(low, high)), "volume": draw(st.floats(0, 1e9))}
        return [repr(prices[c.lower()]) if c.lower() in prices else draw(well_formed(c, daily))
                for c in header]
    cells = [draw(plausible(c) | garbage) for c in header]
    if style == "misshapen":
        cells = cells[:draw(st.integers(0, len(cells)))] + draw(st.lists(garbage, max_size=2))
    return cells


@st.composite
def files(draw: st.DrawFn, fmt: Format, header: list[str]) -> list[list[str]]:
    """A file's rows; about one file in eight has a field over the csv limit (costly to write)."""
    daily = fmt.name in ("lean-daily", "sp500", "yahoo")
    data = draw(st.lists(rows(header, daily), max_size=6))
    if data and draw(st.integers(0, 7)) == 0:
        row = data[draw(st.integers(0, len(data) - 1))]
        if row:
            row[draw(st.integers(0, len(row) - 1))] = draw(huge)
    return data


def write_csv(path: Path, header: list[str], data: list[list[str]], bom: bool) -> list[int]:
    """Write the file; return the physical line each data row starts on."""
    texts = [csv_line(row) for row in [header, *data]]
    breaks = [len(LINE_BREAK.findall(t)) for t in texts]
    text = ("\ufeff" if bom else "") + "".join(texts)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return list(accumulate(breaks, initial=1))[1:-1]


def csv_line(row: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(row)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@fuzz_settings(DATASET_EXAMPLES)
@given(data=st.data(), bom=st.booleans(), stem=st.sampled_from(["AAPL", "brk.b", "x 1"]))
def test_read_yields_one_item_per_row(fmt: Format, data: st.DataObject, bom: bool,
                                      stem: str) -> None:
    header = data.draw(st.permutations(sorted(fmt.columns)))
    written = data.draw(files(fmt, header))
    model = PriceBar if fmt.kind == "prices" else NewsItem
    # The stem is a Yahoo file's symbol. A fresh directory per example: tmp_path is per test.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{stem}.csv"
        starts = write_csv(path, header, written, bom)
        items = list(read(path, fmt.kind))
    for item in items:
        assert isinstance(item, (model, Rejected)), item
        if isinstance(item, Rejected):
            assert re.match(rf"{re.escape(path.name)}:\d+: ", item.reason), item.reason
            assert "\n" not in item.reason and "\r" not in item.reason, item.reason
            assert len(item.raw) <= MAX_ORIGINAL + 100  # + the note of how long it was
    assert len(items) == len(written)
    for item, line in zip(items, starts):
        if isinstance(item, Rejected):
            assert item.reason.startswith(f"{path.name}:{line}: "), (line, item.reason)


def test_huge_quoted_field_with_line_break_is_one_row(tmp_path: Path) -> None:
    good = ["MSFT", "2024-01-02T14:31:00Z", "1", "2", "1", "1.5", "10"]
    smuggled = "x" * FIELD_LIMIT + "\n" + ",".join(good) + "\n"
    path = tmp_path / "bars.csv"
    write_csv(path, ["symbol", "timestamp", "open", "high", "low", "close", "volume"],
              [["AAPL", smuggled, "1", "2", "1", "1.5", "10"]], bom=False)
    items = list(read(path, "prices"))
    assert [type(i) for i in items] == [Rejected]
