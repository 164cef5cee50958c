"""The fuzz suite's example budget, its hypothesis settings and the odd inputs the targets share.

The counts below keep all of tests/fuzz within about 30 s on a 2-core machine; a parametrized
test runs its count once per parameter (per model, per file format)."""

from __future__ import annotations

from datetime import timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CONTRACT_BYTES_EXAMPLES = 200  # per model
CONTRACT_JSON_EXAMPLES = 100  # per model
CONTRACT_MUTATION_EXAMPLES = 200  # per model
DATASET_EXAMPLES = 50  # per importer format
WS_FRAME_TYPE_EXAMPLES = 500  # frames given to the frame parser directly
WS_SOCKET_EXAMPLES = 150  # frames sent through a real websocket


def fuzz_settings(max_examples: int) -> settings:
    # derandomize: every run (and CI) tries the same examples; database=None: nothing is written
    # to .hypothesis/ in the repo.
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


# Strings that have broken parsers before: line and paragraph separators, a byte-order mark, NUL,
# bidi overrides, combining marks, astral characters, other scripts' digits, CSV and JSON quoting.
ODD_STRINGS = ("", " ", "\n", "\r", "\r\n", "\x00", "\ufeff", "\u2028", "\u2029", "\x85",
               "\u202e", "e\u0301", "\U0001d538", "\U0001f600", "\u0661\u0660\u0660", "\uff11",
               '"', '""', "'", "\\", ",", ";", "NaN", "null", "AAPL", "BRK.B")
odd_text = st.lists(st.text(max_size=12) | st.sampled_from(ODD_STRINGS), max_size=4).map("".join)

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats() | odd_text)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(odd_text, inner, max_size=4), max_leaves=8)


def nested(depth: int) -> list[str]:
    """JSON texts nested `depth` levels deep, closed and unclosed: recursion bait."""
    return ["[" * depth, "[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth]


deep_json = st.sampled_from([5, 100, 1000, 100_000]).flatmap(lambda n: st.sampled_from(nested(n)))

_offsets = st.sampled_from(["Z", "z", "+00:00", "+01:00", "-01:00", "+23:59", "-23:59", "+24:00",
                            "+05:30:15", "+0100", ""])
_edge_times = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.sampled_from([1, 2, 999, 1000, 1969, 1970, 2024, 9998, 9999]) | st.integers(0, 10_000),
    st.integers(0, 13), st.integers(0, 32), st.sampled_from("T t_"), st.integers(0, 24),
    st.integers(0, 60), st.integers(0, 61), st.sampled_from(["", ".5", ".123", ".123456", ".1234567"]),
    _offsets)
_zones = st.none() | st.just(timezone.utc) | st.builds(
    timezone, st.timedeltas(-timedelta(hours=23, minutes=59), timedelta(hours=23, minutes=59)))
# Text timestamps: the calendar's edges (years 1 and 9999) with offsets that push them past it,
# impossible dates and times, naive ones, date-only ones.
timestamps = st.one_of(
    _edge_times,
    st.sampled_from(["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z",
                     "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999Z"]),
    st.datetimes(timezones=_zones).map(lambda t: t.isoformat()),
    st.dates().map(str),
)
