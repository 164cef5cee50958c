"""The file backend on real directories: segments, sealing, crash recovery, resume, and
subscriptions that start at an instant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import fs_clock_past
from tradeflow.topics import BackendError, Record, open_backend
from tradeflow.topics import file as file_backend
from tradeflow.topics.file import IN_PROGRESS, SEGMENT_RE, FileBackend

TOPIC = "stock-prices"


def records(start: int, n: int) -> list[Record]:
    return [Record("AAPL", json.dumps({"i": i}).encode()) for i in range(start, start + n)]


def drain(sub, timeout: float = 0.3) -> list[int]:
    out = []
    while batch := sub.poll(max_records=7, timeout=timeout):
        out += [json.loads(m.value)["i"] for m in batch]
    return out


def visible(backend: FileBackend) -> list[str]:
    return sorted(n for n in os.listdir(backend.topic_dir(TOPIC)) if not n.startswith("."))


def test_round_trip_and_segments_are_sealed_whole(tmp_path):
    with FileBackend(tmp_path, segment_bytes=100) as b:
        b.publish(TOPIC, records(0, 50))
        b.publish(TOPIC, records(50, 3))
    names = visible(b)
    assert names and all(SEGMENT_RE.match(n) for n in names)
    assert not [n for n in os.listdir(b.topic_dir(TOPIC)) if n.startswith(IN_PROGRESS)]
    assert drain(b.subscribe(TOPIC, "g")) == list(range(53))


def test_records_are_invisible_until_sealed_then_sealed_by_age(tmp_path):
    b = FileBackend(tmp_path, segment_seconds=0.3)
    sub = b.subscribe(TOPIC, "g")
    b.publish(TOPIC, records(0, 5))
    assert sub.poll(timeout=0) == []  # still in the hidden in-progress file
    assert drain(sub, timeout=2.0) == [0, 1, 2, 3, 4]  # the sealer thread published it
    b.close()


def test_restart_resumes_with_no_loss_and_no_duplicates(tmp_path):
    b = FileBackend(tmp_path, segment_bytes=60)
    b.publish(TOPIC, records(0, 40))
    b.flush()
    first = b.subscribe(TOPIC, "consumer")
    got = [json.loads(m.value)["i"] for m in first.poll(max_records=13, timeout=0.1)]
    first.commit()
    # Delivered but not committed: must be delivered again after the restart.
    first.poll(max_records=5, timeout=0.1)
    first.close()
    b.publish(TOPIC, records(40, 10))
    b.flush()
    second = b.subscribe(TOPIC, "consumer")
    got += drain(second)
    assert got == list(range(50))
    second.commit()
    assert drain(b.subscribe(TOPIC, "consumer")) == []
    # Another group has its own position.
    assert drain(b.subscribe(TOPIC, "other")) == list(range(50))


def test_latest_starts_after_what_exists(tmp_path):
    b = FileBackend(tmp_path)
    b.publish(TOPIC, records(0, 5))
    b.flush()
    sub = b.subscribe(TOPIC, "late", start="latest")
    b.publish(TOPIC, records(5, 2))
    b.flush()
    assert drain(sub) == [5, 6]


@pytest.mark.integration
def test_concurrent_writers_never_overwrite_each_other(tmp_path):
    code = (
        "import json, sys; from tradeflow.topics.file import FileBackend; from tradeflow.topics import Record\n"
        "b = FileBackend(sys.argv[1], segment_bytes=40)\n"
        "w = int(sys.argv[2])\n"
        "for i in range(200): b.publish('stock-prices', [Record('X', json.dumps({'i': w * 1000 + i}).encode())])\n"
        "b.close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(w)]) for w in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    got = drain(FileBackend(tmp_path).subscribe(TOPIC, "g"))
    assert sorted(got) == sorted(w * 1000 + i for w in range(3) for i in range(200))
    for w in range(3):  # each writer's own order is kept
        mine = [i for i in got if i // 1000 == w]
        assert mine == sorted(mine)


@pytest.mark.integration
def test_a_crashed_writers_records_are_recovered(tmp_path):
    code = (
        "import json, os, sys; from tradeflow.topics.file import FileBackend; from tradeflow.topics import Record\n"
        "b = FileBackend(sys.argv[1], segment_seconds=3600)\n"
        "b.publish('stock-prices', [Record('X', json.dumps({'i': i}).encode()) for i in range(10)])\n"
        "os._exit(9)  # dies without sealing\n")
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)]).returncode == 9
    topic_dir = tmp_path / "topics" / TOPIC
    [orphan] = [p for p in topic_dir.iterdir() if p.name.startswith(IN_PROGRESS)]
    with open(orphan, "ab") as f:
        f.write(b'{"i": 10')  # a torn line the crashed writer never finished
    b = FileBackend(tmp_path)
    b.publish(TOPIC, records(100, 1))  # the next writer on the topic seals the orphan
    b.flush()
    assert sorted(drain(b.subscribe(TOPIC, "g"))) == list(range(10)) + [100]


def test_a_live_writers_in_progress_file_is_left_alone(tmp_path):
    a = FileBackend(tmp_path, segment_seconds=3600)
    a.publish(TOPIC, records(0, 3))
    b = FileBackend(tmp_path, segment_seconds=3600)
    b.publish(TOPIC, records(3, 1))
    b.flush()
    assert drain(b.subscribe(TOPIC, "g")) == [3]
    a.flush()
    assert drain(b.subscribe(TOPIC, "g2")) == [3, 0, 1, 2]


def test_other_sealed_files_are_read_once_and_hidden_ones_never(tmp_path):
    """Flink's filesystem sink commits `part-*` files and keeps in-progress ones hidden."""
    b = FileBackend(tmp_path)
    d = b.topic_dir("trading-signals")
    d.mkdir(parents=True)
    (d / ".part-0-0.inprogress.abc").write_text('{"i": 99}\n')
    (d / "_SUCCESS").write_text("")
    (d / "part-aaa-0-0").write_text('{"i": 1}\n{"i": 2}\n')
    sub = b.subscribe("trading-signals", "g")
    assert [json.loads(m.value)["i"] for m in sub.poll(timeout=0.1)] == [1, 2]
    sub.commit()
    (d / "part-aaa-0-1").write_text('{"i": 3}')  # no trailing newline
    again = b.subscribe("trading-signals", "g")
    assert [json.loads(m.value)["i"] for m in again.poll(timeout=0.1)] == [3]


def test_multiline_values_are_refused(tmp_path):
    from tradeflow.topics import BackendError

    with pytest.raises(BackendError, match="single line"):
        FileBackend(tmp_path).publish(TOPIC, [Record("X", b'{"a":\n1}')])


def test_open_backend_uses_the_data_dir(settings):
    b = open_backend()
    assert isinstance(b, FileBackend)
    assert b.root == Path(os.environ["TRADEFLOW_DATA_DIR"]).resolve()


def test_a_writer_killed_between_seal_and_cleanup_publishes_nothing_twice(tmp_path):
    """What a writer killed right after linking its segment leaves: the hidden in-progress name
    and the segment, one file with two names, unlocked. The next writer removes the hidden name
    and does not seal it again."""
    topic_dir = tmp_path / "topics" / TOPIC
    topic_dir.mkdir(parents=True)
    hidden = topic_dir / f"{IN_PROGRESS}dead.ndjson"
    hidden.write_bytes(b"".join(r.value + b"\n" for r in records(0, 5)))
    os.link(hidden, topic_dir / "000000000001.ndjson")
    with FileBackend(tmp_path) as b:
        b.publish(TOPIC, records(5, 2))
    assert not hidden.exists()
    assert drain(b.subscribe(TOPIC, "g")) == list(range(7))


def test_reading_many_segments_lists_the_directory_a_constant_number_of_times(tmp_path,
                                                                              monkeypatch):
    """Each segment is opened by its number: reading 1,000 of them lists the topic directory a
    few times, not once per segment (which made reading quadratic in the segment count)."""
    with FileBackend(tmp_path, segment_bytes=1) as b:  # a segment per publish
        for r in records(0, 1000):
            b.publish(TOPIC, [r])
    listings = []
    real = os.scandir

    def counting(path):
        listings.append(path)
        return real(path)

    monkeypatch.setattr("tradeflow.topics.file.os.scandir", counting)
    sub = b.subscribe(TOPIC, "g")
    got = []
    while batch := sub.poll(max_records=500, timeout=0):
        got += [json.loads(m.value)["i"] for m in batch]
    assert got == list(range(1000))
    assert len(listings) <= 3, len(listings)


def test_retention_removes_the_oldest_segments_and_a_reader_behind_goes_on(tmp_path, caplog):
    """Segments past the age limit go (the newest always stays); so do the oldest while the
    topic is over its size limit. A group that had not read them starts at the oldest kept
    segment and says how many it missed."""
    b = FileBackend(tmp_path, segment_bytes=1, retention_seconds=3600, retention_every=0)
    for r in records(0, 10):
        b.publish(TOPIC, [r])
    topic_dir = b.topic_dir(TOPIC)
    old = time.time() - 7200
    for name in visible(b)[:6]:
        os.utime(topic_dir / name, (old, old))
    b.publish(TOPIC, records(10, 1))  # a seal applies the limits
    assert visible(b) == [f"{i:012d}.ndjson" for i in range(7, 12)]
    with caplog.at_level("WARNING", logger="tradeflow.topics.file"):
        assert drain(b.subscribe(TOPIC, "late")) == list(range(6, 11))
    assert "segments 1 to 6 were removed" in caplog.text
    b.close()

    sized = FileBackend(tmp_path / "sized", segment_bytes=1, retention_bytes=40,
                        retention_every=0)
    for r in records(0, 10):  # 9 bytes per record: at most 4 segments fit
        sized.publish(TOPIC, [r])
    assert drain(sized.subscribe(TOPIC, "g")) == [6, 7, 8, 9]
    sized.close()


# --- starting at an instant -------------------------------------------------------------------

def test_start_time_skips_what_was_sealed_before_it_and_reads_the_rest(tmp_path, monkeypatch):
    # The exact boundary, without the safety margin (a second early) it normally reads from.
    monkeypatch.setattr(file_backend, "SEAL_TIME_MARGIN_S", 0.0)
    b = FileBackend(tmp_path)
    topic_dir = b.topic_dir(TOPIC)
    b.publish(TOPIC, records(0, 5))
    b.flush()  # segment 1
    b.publish(TOPIC, records(5, 3))
    b.flush()  # segment 2
    (topic_dir / "part-old").write_bytes(b'{"i": 100}\n')  # another writer's file (Flink's)
    instant = max(os.stat(topic_dir / n).st_ctime for n in visible(b)) + 0.001
    fs_clock_past(tmp_path, instant)
    b.publish(TOPIC, records(8, 4))
    b.flush()  # segment 3: sealed after the instant
    (topic_dir / "part-new").write_bytes(b'{"i": 101}\n')
    sub = b.subscribe(TOPIC, "since", start=datetime.fromtimestamp(instant, timezone.utc))
    b.publish(TOPIC, records(12, 2))  # in progress while subscribing: counts as recent
    b.flush()
    assert sorted(drain(sub)) == [8, 9, 10, 11, 12, 13, 101]
    b.close()


def test_start_time_reads_the_segment_that_straddles_it_whole(tmp_path):
    b = FileBackend(tmp_path)
    b.publish(TOPIC, records(0, 3))
    instant = datetime.now(timezone.utc)
    b.publish(TOPIC, records(3, 2))  # same in-progress segment, sealed after the instant
    b.flush()
    assert drain(b.subscribe(TOPIC, "since", start=instant)) == [0, 1, 2, 3, 4]
    # All sealed before a later instant (even less than the margin before it): nothing to read
    # but what comes next.
    later = b.subscribe(TOPIC, "later", start=datetime.now(timezone.utc) + timedelta(seconds=5))
    b.publish(TOPIC, records(5, 1))
    b.flush()
    assert drain(later) == [5]
    b.close()


def test_a_naive_start_time_is_refused_in_one_line(tmp_path):
    with pytest.raises(BackendError, match=r"^file backend: start time 2026-01-02T03:04:00 has "
                                           r"no time zone; give an aware datetime") as e:
        FileBackend(tmp_path).subscribe(TOPIC, "g", start=datetime(2026, 1, 2, 3, 4))
    assert "\n" not in str(e.value)
