"""Fuzz of the contract parser: any bytes, any JSON, and valid records with one field changed
either parse into a record that survives its own wire form, or fail with a one-line ContractError.
`is_clock` answers every one of them without raising."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.dashboard.conftest import T0, bar, news, order, signal
from tests.fuzz.common import (
    CONTRACT_BYTES_EXAMPLES,
    CONTRACT_JSON_EXAMPLES,
    CONTRACT_MUTATION_EXAMPLES,
    deep_json,
    fuzz_settings,
    json_scalars,
    json_values,
    odd_text,
    timestamps,
)
from tradeflow.contracts import (
    TOPIC_CONTRACTS,
    MAX_RECORD_BYTES,
    Clock,
    Contract,
    ContractError,
    DeadLetter,
    build,
    is_clock,
    parse,
)

MODELS = [*TOPIC_CONTRACTS.values(), Clock]

# One valid record per model, as its wire dict: the starting point of every mutation.
VALID: dict[type[Contract], dict] = {
    type(rec): json.loads(rec.to_json()) for rec in (
        bar("AAPL", 1, 100, 101, 99, 100.5, 1000),
        news("n1", "AAPL", 2, "Apple wins a contract"),
        signal("AAPL", 3),
        order("o1", "AAPL", "buy", 10, 10, 100.0, when=T0),
        build(DeadLetter, original="{", reason="bad JSON", component="fuzz",
              source_topic="stock-prices", time=T0),
        build(Clock, clock=T0 + timedelta(minutes=5), source="fuzz"),
    )
}
assert set(VALID) == set(MODELS)


def check_parse(model: type[Contract], raw: bytes | str) -> None:
    """The property: a record that round-trips, or a one-line ContractError; nothing else."""
    is_clock(raw)
    try:
        rec = parse(model, raw)
    except ContractError as err:
        assert str(err) and "\n" not in str(err), repr(str(err))
        return
    assert type(rec) is model
    assert parse(model, rec.to_json()) == rec


def encoded(text: str, as_bytes: bool) -> bytes | str:
    # Topics hand the parser bytes; the signature also takes str, so both are tried.
    return text.encode() if as_bytes else text


def model_ids(model: type[Contract]) -> str:
    return model.__name__


@st.composite
def spliced(draw: st.DrawFn, model: type[Contract]) -> bytes:
    """A valid record's bytes with arbitrary bytes (invalid UTF-8 too) inserted somewhere."""
    raw = json.dumps(VALID[model]).encode()
    at = draw(st.integers(0, len(raw)))
    return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]


@st.composite
def mutated(draw: st.DrawFn, model: type[Contract]) -> str:
    """A valid record with one field replaced, removed or added, as raw JSON text (so it can hold
    NaN, 400-digit numbers and nesting too deep for json.dumps)."""
    fields = {k: json.dumps(v) for k, v in VALID[model].items()}
    key = draw(st.sampled_from(sorted(fields)) | odd_text)
    value = draw(st.one_of(
        st.none(),  # remove the field
        json_values.map(json.dumps),  # wrong types
        st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "5e-324",
                         "-1", "0", "-0.0", "1" + "0" * 400, "-" + "9" * 400, "true", '""']),
        st.integers().map(str),
        st.floats().map(json.dumps),
        st.booleans().flatmap(lambda ascii_only: odd_text.map(
            lambda s: json.dumps(s, ensure_ascii=ascii_only))),
        timestamps.map(json.dumps),
        deep_json,
        # Strings around the whole record's size limit.
        st.sampled_from([2048, MAX_RECORD_BYTES]).map(lambda n: json.dumps("x" * n)),
    ))
    if value is None:
        fields.pop(key, None)
    else:
        fields[key] = value
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}"


@pytest.mark.parametrize("model", MODELS, ids=model_ids)
@fuzz_settings(CONTRACT_BYTES_EXAMPLES)
@given(data=st.data())
def test_parse_arbitrary_bytes(model: type[Contract], data: st.DataObject) -> None:
    check_parse(model, data.draw(st.binary(max_size=256) | spliced(model)))


@pytest.mark.parametrize("model", MODELS, ids=model_ids)
@fuzz_settings(CONTRACT_JSON_EXAMPLES)
@given(data=st.data(), as_bytes=st.booleans())
def test_parse_arbitrary_json(model: type[Contract], data: st.DataObject, as_bytes: bool) -> None:
    # Objects keyed by the model's own field names get past the first check more often.
    # (Scalars as their values: nested ones are json_values' job, and cost generation time.)
    objects = st.dictionaries(st.sampled_from(sorted(VALID[model])) | odd_text, json_scalars,
                              max_size=8)
    value = data.draw(json_values | objects)
    check_parse(model, encoded(json.dumps(value), as_bytes))


@pytest.mark.parametrize("model", MODELS, ids=model_ids)
@fuzz_settings(CONTRACT_MUTATION_EXAMPLES)
@given(data=st.data(), as_bytes=st.booleans())
def test_parse_valid_record_with_one_field_changed(model: type[Contract], data: st.DataObject,
                                                   as_bytes: bool) -> None:
    check_parse(model, encoded(data.draw(mutated(model)), as_bytes))


# --- inputs the fuzz once broke --------------------------------------------------------------

@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59Z"])
def test_year_before_1000_round_trips(when: str) -> None:
    rec = parse(Clock, json.dumps({"clock": when, "source": "fuzz"}))
    assert parse(Clock, rec.to_json()) == rec


def test_reason_has_no_carriage_return() -> None:
    with pytest.raises(ContractError) as err:
        parse(Clock, json.dumps({**VALID[Clock], "a\rb": 1}))
    assert "\r" not in str(err.value)
