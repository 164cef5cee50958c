"""When `tradeflow topic read` stops: its read loop (`copy_records`) on a fake clock, against a
reader that hands out records at chosen instants of that clock."""

from __future__ import annotations

import io
import threading

import pytest

from tests.conftest import FakeClock
from tradeflow.topics.base import Message
from tradeflow.topics.cli import TICK_S, copy_records


class ScriptedReader:
    """A topic on which `arrivals[t]` appears at t seconds of `clock` after the start. `poll`
    returns what has arrived, else waits (on the fake clock) for the next arrival or the timeout,
    whichever comes first, as a real reader does."""

    def __init__(self, clock: FakeClock, arrivals: dict[float, list[bytes]]) -> None:
        self.clock = clock
        self.pending = sorted((clock.now + t, values) for t, values in arrivals.items())
        self.timeouts: list[float] = []

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        self.timeouts.append(timeout)
        if self.pending and self.pending[0][0] <= self.clock.now + timeout:
            at, values = self.pending.pop(0)
            self.clock.sleep(max(0.0, at - self.clock.now))
            return [Message("t", v, "K", (0, i)) for i, v in enumerate(values[:max_records])]
        self.clock.sleep(timeout)
        return []


def run(arrivals: dict[float, list[bytes]], **kw) -> tuple[bytes, FakeClock, ScriptedReader]:
    clock = FakeClock()
    reader = ScriptedReader(clock, arrivals)
    out = io.BytesIO()
    kw.setdefault("stop", threading.Event())
    kw.setdefault("max_records", None)
    copy_records(reader, out, monotonic=clock.monotonic, **kw)
    return out.getvalue(), clock, reader


def test_an_empty_topic_is_waited_on_for_the_idle_time_then_left():
    printed, clock, reader = run({}, idle=1.5)
    assert printed == b""
    assert clock.waited == pytest.approx(1.5)
    assert max(reader.timeouts) <= TICK_S  # short waits: a signal is noticed promptly


def test_the_idle_time_counts_from_the_last_record():
    printed, clock, _ = run({0: [b"a", b"b"], 2: [b"c"], 4.5: [b"d"], 8: [b"late"]}, idle=3)
    # "d" came 2.5 s after "c", within the idle time; "late" 3.5 s after "d", past it.
    assert printed == b"a\nb\nc\nd\n"
    assert clock.waited == pytest.approx(4.5 + 3)


def test_max_records_ends_it_at_once():
    printed, clock, _ = run({0: [b"a", b"b", b"c"], 1: [b"d"]}, idle=10, max_records=2)
    assert printed == b"a\nb\n"
    assert clock.waited == 0


def test_follow_waits_for_records_until_stopped():
    stop = threading.Event()
    clock = FakeClock()
    reader = ScriptedReader(clock, {0: [b"a"], 600: [b"b"]})
    real_poll = reader.poll

    def poll(**kw):
        batch = real_poll(**kw)
        if batch and batch[0].value == b"b":
            stop.set()  # a signal, right after the record ten minutes in
        return batch

    reader.poll = poll
    out = io.BytesIO()
    assert copy_records(reader, out, idle=None, max_records=None, stop=stop,
                        monotonic=clock.monotonic) == 2
    assert out.getvalue() == b"a\nb\n"
    assert clock.waited == pytest.approx(600)
