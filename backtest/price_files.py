"""Price CSV files read column by column, for inputs of hundreds of thousands of bars.

`tradeflow.datasets` reads row by row into contract records, with a one-line reason for every
row it rejects. Here the same files are read as whole columns and checked with rules at least
as strict as the row reader's and the contract's. When every row of every file passes, the
bars are the ones `datasets.load` gives, in its order; otherwise `read_prices` gives None and
the caller reads row by row, for the reasons. Only the formats whose rules are repeated here
(normalized with `Z` times, LEAN minute bars, both plain unquoted CSV) take this path.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from tradeflow.contracts import SYMBOL_RE, PriceBar, to_wire_time
from tradeflow.datasets import NEW_YORK, NUMBER_RE, detect

from .data import COLUMNS

# Anything the csv module reads differently from a split on commas and line ends (\n, \r\n):
# quoting, other line ends, NUL. Files holding one are left to the row reader.
_NOT_PLAIN = re.compile(r'["\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|\r(?!\n)')
_TIMES = {  # format -> (time column, the one time form taken here, its strptime format)
    "normalized": ("timestamp", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"),
                   "%Y-%m-%dT%H:%M:%SZ"),
    "lean-minute": ("bar_start_et", re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"),
                    "%Y-%m-%d %H:%M:%S"),
}
_SOURCE_MAX = next(m.max_length for m in PriceBar.model_fields["source"].metadata
                   if hasattr(m, "max_length"))


def read_prices(paths: Sequence[Path]) -> pd.DataFrame | None:
    """Every bar of the files as a `data.bars_table` in `datasets.load`'s order (event time,
    file order breaking ties), or None when a file needs the row reader (see the module doc)."""
    tables = []
    for path in paths:
        table = _read(Path(path))
        if table is None:
            return None
        tables.append(table)
    df = pd.concat(tables, ignore_index=True)
    return df.sort_values("time", kind="stable").reset_index(drop=True)


def _read(path: Path) -> pd.DataFrame | None:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        text = f.read()
    if _NOT_PLAIN.search(text):
        return None
    head, _, body = text.replace("\r\n", "\n").partition("\n")
    header = [h.strip() for h in head.split(",")]
    try:
        fmt = detect(header, "prices")
    except ValueError:
        return None
    source = f"replay:{path.name}"
    if fmt.name not in _TIMES or len(set(header)) != len(header) or len(source) > _SOURCE_MAX:
        return None
    body = body.removesuffix("\n")
    if not body or body.startswith("\n") or "\n\n" in body:
        return None  # no rows, or a blank line
    # Every row has as many fields as the header: the C parser refuses a row with more, and
    # then no row can have fewer when the separators add up.
    if body.count(",") != (body.count("\n") + 1) * (len(header) - 1):
        return None
    try:
        table = pd.read_csv(io.StringIO(body), header=None, dtype=str, na_filter=False,
                            quoting=csv.QUOTE_NONE, engine="c")
    except pd.errors.ParserError:
        return None
    cells = {name: table[i].tolist() for i, name in enumerate(header)}
    symbols = [s.strip() for s in cells["symbol"]]
    if not all(SYMBOL_RE.match(s) for s in set(symbols)):
        return None
    numbers = {}
    for name in ("open", "high", "low", "close", "volume"):
        texts = [t.strip() for t in cells[name]]
        if not all(NUMBER_RE.fullmatch(t) for t in set(texts)):
            return None
        numbers[name] = np.array([float(t) for t in texts])
    o, h, lo, c, v = (numbers[n] for n in ("open", "high", "low", "close", "volume"))
    prices = np.stack([o, h, lo, c])
    if not (np.isfinite(prices).all() and np.isfinite(v).all() and (prices > 0).all()
            and (v >= 0).all() and (h >= lo).all() and ((lo <= o) & (o <= h)).all()
            and ((lo <= c) & (c <= h)).all()):
        return None
    times = _times(fmt.name, [t.strip() for t in cells[_TIMES[fmt.name][0]]])
    if times is None:
        return None
    return pd.DataFrame({"symbol": symbols, "time": times, "open": o, "high": h, "low": lo,
                         "close": c, "volume": v, "source": source}, columns=[*COLUMNS, "source"])


def _times(fmt: str, texts: list[str]) -> pd.DatetimeIndex | None:
    """Bar ends in UTC, or None where the row reader might read one differently."""
    _, form, strptime = _TIMES[fmt]
    # Each distinct time once: the symbols of a file share their minutes.
    distinct, which = np.unique(np.array(texts), return_inverse=True)
    if not all(form.fullmatch(t) for t in distinct):
        return None
    t = pd.to_datetime(pd.Series(distinct), format=strptime, errors="coerce")
    if t.isna().any():  # no such date, or outside pandas' range
        return None
    if fmt == "normalized":
        ends = pd.DatetimeIndex(t).tz_localize("UTC")
    else:
        # LEAN: the bar start in New York plus a minute, on the wall clock, as aware datetime
        # arithmetic does; wall times a clock change makes ambiguous or skips go to the row reader.
        ends = pd.DatetimeIndex(t + pd.Timedelta(minutes=1)).tz_localize(
            NEW_YORK, ambiguous="NaT", nonexistent="NaT")
        if ends.isna().any():
            return None
        ends = ends.tz_convert("UTC")
    return ends[which.ravel()]


def write_ndjson(f: IO[bytes], table: pd.DataFrame) -> int:
    """The bars of a `bars_table` as `stock-prices` records (PriceBar's JSON: the same values)."""
    stamps = _wire_times(pd.DatetimeIndex(table["time"]))
    cols = [table[c].tolist() for c in ("symbol", "open", "high", "low", "close", "volume", "source")]
    quoted = {src: json.dumps(src) for src in set(cols[-1])}
    for t, (sym, o, h, lo, c, v, src) in zip(stamps, zip(*cols)):
        f.write(f'{{"v":1,"symbol":"{sym}","event_time":"{t}","open":{o!r},"high":{h!r},'
                f'"low":{lo!r},"close":{c!r},"volume":{v!r},"source":{quoted[src]}}}\n'
                .encode())
    return len(table)


def _wire_times(times: pd.DatetimeIndex) -> Iterable[str]:
    # Each distinct time formatted once: the symbols of a file share their minutes.
    which, each = pd.factorize(times)
    if (each.microsecond == 0).all() and (each.nanosecond == 0).all() and each.year.min() >= 1000:
        texts = np.asarray(each.strftime("%Y-%m-%dT%H:%M:%SZ"), dtype=object)
    else:
        texts = np.array([to_wire_time(t) for t in each.to_pydatetime()], dtype=object)
    return texts[which].tolist()
