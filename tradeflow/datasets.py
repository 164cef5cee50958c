"""Read price and news CSV files into contract records, whatever their (known) format.

Shared by the replay producer and the backtest, so both read a file the same way.

The normalized price format is `symbol,timestamp,open,high,low,close,volume` with ISO-8601
timestamps that carry a zone and mark the bar END. Importers also read the formats found in
../shared/data (see FORMATS below). Every row becomes either a record or a `Rejected` with a
one-line reason; nothing is skipped silently.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tradeflow.config import NEWS, PRICES
from tradeflow.contracts import ContractError, NewsItem, PriceBar, build
from tradeflow.deadletter import truncated


NEW_YORK = ZoneInfo("America/New_York")
REGULAR_CLOSE = time(16, 0)

Row = dict[str, str]


class Rejected:
    """An input record that could not become a contract record, with the one-line reason."""

    __slots__ = ("raw", "reason", "topic")

    def __init__(self, raw: str, reason: str, topic: str) -> None:
        self.raw, self.reason, self.topic = raw, reason, topic

    def __repr__(self) -> str:
        return f"Rejected({self.reason!r})"


@dataclass(frozen=True)
class Format:
    name: str
    kind: str  # "prices" or "news"
    columns: frozenset[str]
    convert: Callable[[Row, Path], dict]
    description: str


# A plain decimal number in ASCII digits: Python's float() also takes `100_0` (1000) and other
# scripts' digits (`١٠٠`), which no data file means as a price.
NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _f(row: Row, col: str) -> float:
    text = (row.get(col) or "").strip()
    if not text:
        raise ValueError(f"{col} is empty")
    if not NUMBER_RE.fullmatch(text):
        raise ValueError(f"{col} is not a number: {_short(text)!r}")
    return float(text)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _ohlcv(row: Row, names: tuple[str, str, str, str, str]) -> dict:
    o, h, lo, c, v = (_f(row, n) for n in names)
    # The contract checks high >= low; a file's open and close must lie in that range too (the
    # contract does not insist: some live feeds' bars stray a cent, and the job uses the close).
    if h >= lo:
        for name, price in ((names[0], o), (names[3], c)):
            if not lo <= price <= h:
                raise ValueError(f"{name} {price:g} outside [low {lo:g}, high {h:g}]")
    return {"open": o, "high": h, "low": lo, "close": c, "volume": v}


def _zoned(text: str) -> datetime:
    t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"timestamp has no time zone: {_short(text)!r}")
    return t


def _daily_close(day: str) -> datetime:
    """Daily bars end at the regular close, 16:00 in New York (early closes are not modelled)."""
    return datetime.combine(date.fromisoformat(day.strip()), REGULAR_CLOSE, NEW_YORK)


def _normalized(row: Row, _: Path) -> dict:
    return {"symbol": row["symbol"].strip(), "event_time": _zoned(row["timestamp"]),
            **_ohlcv(row, ("open", "high", "low", "close", "volume"))}


def _lean_minute(row: Row, _: Path) -> dict:
    text = row["bar_start_et"].strip()
    start = datetime.fromisoformat(text)
    if start.tzinfo is not None:  # replacing it would shift the bar by the offset's difference
        raise ValueError(f"bar_start_et carries its own offset ({_short(text)!r}): LEAN times "
                         "are New York local time without one")
    start = start.replace(tzinfo=NEW_YORK)
    return {"symbol": row["symbol"].strip(), "event_time": start + timedelta(minutes=1),
            **_ohlcv(row, ("open", "high", "low", "close", "volume"))}


def _lean_daily(row: Row, _: Path) -> dict:
    return {"symbol": row["symbol"].strip(), "event_time": _daily_close(row["date"]),
            **_ohlcv(row, ("open", "high", "low", "close", "volume"))}


def _sp500(row: Row, _: Path) -> dict:
    return {"symbol": row["Name"].strip(), "event_time": _daily_close(row["date"]),
            **_ohlcv(row, ("open", "high", "low", "close", "volume"))}


def _yahoo(row: Row, path: Path) -> dict:
    # Yahoo exports carry no symbol column: the file is named after the ticker (AAPL.csv).
    return {"symbol": path.stem.upper(), "event_time": _daily_close(row["Date"]),
            **_ohlcv(row, ("Open", "High", "Low", "Close", "Volume"))}


def _analyst_ratings(row: Row, _: Path) -> dict:
    return {"id": f"ar-{row[''].strip()}", "symbols": [row["stock"].strip()],
            "headline": row["title"].strip(), "source": "analyst-ratings",
            "published_at": _zoned(row["date"])}


def _tweets(row: Row, _: Path) -> dict:
    return {"id": f"tw-{row['tweet_id'].strip()}", "symbols": [row["ticker"].strip()],
            "headline": " ".join(row["text"].split()),
            "source": f"twitter:{row['user_screen_name'].strip()}",
            "published_at": _zoned(row["created_at_utc"])}


def _normalized_news(row: Row, _: Path) -> dict:
    return {"id": row["id"].strip(), "symbols": row["symbols"].replace(";", " ").split(),
            "headline": row["headline"].strip(), "summary": (row.get("summary") or "").strip(),
            "source": (row.get("source") or "").strip() or "csv",
            "published_at": _zoned(row["published_at"]), "url": (row.get("url") or "").strip() or None}


FORMATS = (
    Format("normalized", "prices", frozenset("symbol timestamp open high low close volume".split()),
           _normalized, "symbol,timestamp(ISO-8601 with zone, bar end),open,high,low,close,volume"),
    Format("lean-minute", "prices", frozenset("symbol bar_start_et open high low close volume".split()),
           _lean_minute, "LEAN minute bars: bar start in America/New_York (bar end = start + 1 min)"),
    Format("lean-daily", "prices", frozenset("symbol date open high low close volume".split()),
           _lean_daily, "LEAN daily bars (bar end = 16:00 New York)"),
    Format("sp500", "prices", frozenset("date open high low close volume Name".split()),
           _sp500, "Kaggle S&P 500 daily bars (bar end = 16:00 New York)"),
    Format("yahoo", "prices", frozenset("Date Open High Low Close Volume".split()),
           _yahoo, "Yahoo daily export, symbol from the file name (bar end = 16:00 New York)"),
    Format("normalized-news", "news", frozenset("id symbols headline published_at".split()),
           _normalized_news, "id,symbols(space/;-separated),headline,summary,source,published_at,url"),
    Format("analyst-ratings", "news", frozenset(["", "title", "date", "stock"]),
           _analyst_ratings, "Massive Stock News analyst ratings: ,title,date,stock"),
    Format("stocknet-tweets", "news",
           frozenset("ticker created_at_utc tweet_id user_screen_name text".split()),
           _tweets, "StockNet tweets: ticker,created_at_utc,tweet_id,user_screen_name,text"),
)


def detect(header: list[str], kind: str | None = None) -> Format:
    cols = {c.strip() for c in header}
    for fmt in FORMATS:
        if (kind is None or fmt.kind == kind) and fmt.columns <= cols:
            return fmt
    known = "; ".join(f"{f.name}: {f.description}" for f in FORMATS if kind in (None, f.kind))
    raise ValueError(f"unrecognised CSV header {header!r}. Known formats: {known}")


def read(path: Path, kind: str | None = None, source: str | None = None
         ) -> Iterator[PriceBar | NewsItem | Rejected]:
    """Records (or Rejected rows) of a CSV file, in file order. Raises ValueError on an unknown
    header. A row that cannot be read, whatever the reason (a field over the csv module's limit,
    a date out of range, ...), is a Rejected with `file:line: reason`, and reading goes on."""
    path = Path(path)
    # utf-8-sig: a byte-order mark (Excel's UTF-8 export) is not part of the first column name.
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        lines = _Lines(f)
        reader = csv.reader(lines)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path} is empty") from None
        except csv.Error as err:
            raise ValueError(f"{path.name}:1: unreadable CSV header: {err}") from None
        fmt = detect(header, kind)
        model, topic = (PriceBar, PRICES) if fmt.kind == "prices" else (NewsItem, NEWS)
        header = [h.strip() if h.strip() else "" for h in header]
        while True:
            line_no = lines.count + 1  # the physical line the record starts on
            lines.start_record()
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # e.g. a field over csv.field_size_limit(): skip the row
                lines.finish_record()
                yield Rejected(_original(lines), f"{path.name}:{line_no}: unreadable CSV row: {err}",
                               topic)
                continue
            raw = _to_csv_line(cells)
            if len(cells) != len(header):
                yield Rejected(truncated(raw), f"{path.name}:{line_no}: expected {len(header)} columns, "
                                          f"got {len(cells)}", topic)
                continue
            row = dict(zip(header, cells))
            try:
                fields = fmt.convert(row, path)
                if model is PriceBar:
                    fields["source"] = source or f"replay:{path.name}"
                yield build(model, **fields)
            except OverflowError as err:  # datetime arithmetic past year 1 or 9999
                yield Rejected(truncated(raw), f"{path.name}:{line_no}: time out of range ({err})", topic)
            except (ValueError, KeyError, ContractError) as err:
                yield Rejected(truncated(raw), f"{path.name}:{line_no}: {_short(str(err), 300)}", topic)


class _Lines:
    """The file's lines as the csv reader takes them, counted, and the current record's kept."""

    def __init__(self, f: Iterable[str]) -> None:
        self._it = iter(f)
        self.count = 0
        self.taken: list[str] = []
        self._quotes = 0

    def start_record(self) -> None:
        self.taken.clear()
        self._quotes = 0

    def finish_record(self) -> None:
        """Take the rest of a record the csv reader gave up on: it starts afresh at the next
        line, which may still be inside a quoted field. An odd count of quotes means it is
        (a quote inside a quoted field is doubled)."""
        while self._quotes % 2:
            try:
                next(self)
            except StopIteration:
                return

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.count += 1
        self.taken.append(line)
        self._quotes += line.count('"')
        return line

    def text(self) -> str:
        return "".join(self.taken)


def _original(lines: _Lines) -> str:
    return truncated(lines.text().rstrip("\r\n"))


def _to_csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def event_time(item: PriceBar | NewsItem) -> datetime:
    return item.event_time if isinstance(item, PriceBar) else item.published_at


def in_time_order(path: Path, kind: str | None = None) -> tuple[int, bool]:
    """How many records a file holds and whether they are in event-time order, reading it once
    without keeping it."""
    count, last, ordered = 0, None, True
    for rec in read(path, kind):
        if not isinstance(rec, Rejected):
            t = event_time(rec)
            ordered = ordered and (last is None or t >= last)
            count, last = count + 1, t
    return count, ordered


def load(paths: Iterable[Path], kind: str | None = None
         ) -> tuple[list[PriceBar | NewsItem], list[Rejected]]:
    """Every record of the files sorted by event time (file order breaks ties), and the rejects."""
    items: list[PriceBar | NewsItem] = []
    rejected: list[Rejected] = []
    for path in paths:
        for rec in read(path, kind):
            (rejected if isinstance(rec, Rejected) else items).append(rec)
    items.sort(key=event_time)
    return items, rejected
