"""The embedded default backend: each topic is a directory of NDJSON segment files.

Writers append to a hidden in-progress file (`.inprogress-*`, invisible to readers and to Flink's
filesystem connector, which skips names starting with `.`), then seal it: fsync and hard-link it
into place under the next free sequence number (`000000000042.ndjson`). `os.link` fails if the
name exists, so concurrent writers can never overwrite each other and sequence numbers follow
the order in which segments were sealed. A sealed segment never changes again.

A writer holds an exclusive `flock` on its in-progress file. A writer that died leaves an
unlocked in-progress file behind; the next writer on that topic seals it (complete lines only),
so a crash loses nothing that was published. One that died between sealing (the link) and
removing the in-progress name leaves a file with two names: it is sealed already, so the next
writer only removes the hidden name and publishes nothing twice.

Retention: after a seal (at most once per `retention_every` seconds) a writer deletes its
topic's oldest segments while they are older than `retention_seconds` or the topic's segments
hold more than `retention_bytes` (0 = keep forever); the newest segment always stays. Files other writers put there (Flink's `part-*`
files) are left alone.

Readers keep, per consumer group, the highest sequence number fully read, the names of other
sealed files read (Flink's sink writes `part-*` files), and the byte offset inside the current
file. `commit()` writes that position atomically; a restart resumes exactly there. `read` (a
reader outside any group) walks the same way but never loads or writes a position; "from now"
starts after the segments sealed when it opens. A reader opens the next sequence number
directly and lists the directory only when that is not there, so reading N segments costs O(N);
a reader behind retention starts again at the oldest segment kept, and logs how many it missed.

A group that starts at an instant (`start=datetime`) skips the segments sealed before it and reads
the rest whole: it gets every record appended at or after the instant, plus possibly earlier ones
(those of the segment that straddles it, and of segments sealed less than `SEAL_TIME_MARGIN_S`
before it); the in-progress part is always read. A segment's sealing time is its inode change
time (ctime), which the link that seals it sets; unlike the modification time it follows the
order of sequence numbers (an orphan recovered today was last written long ago, but sealed
today), and anything that touches a file later only makes it look newer: read, never skipped.
Other files (Flink's `part-*`, renamed into place when committed) are judged the same way.
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from tradeflow.config import TOPICS

from .base import (Backend, BackendError, Message, Reader, Record, StartAt, Subscription,
                   check_start)
from .positions import PositionStore

log = logging.getLogger(__name__)
SEGMENT_RE = re.compile(r"^(\d{12})\.ndjson$")
IN_PROGRESS = ".inprogress-"
# File systems stamp times with a coarse clock (a few ms behind time.time()), a network file system
# with the server's: a subscription from an instant also reads the segments sealed up to this long
# before it, so none holding a record appended after the instant is ever skipped.
SEAL_TIME_MARGIN_S = 1.0


def segment_name(seq: int) -> str:
    return f"{seq:012d}.ndjson"


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class SegmentPolicy:
    """When a writer seals its in-progress segment (at `max_bytes`, or `max_seconds` after
    opening it) and which sealed segments retention deletes (see the module doc; 0: no limit)."""

    max_bytes: int
    max_seconds: float
    retention_seconds: float = 0.0
    retention_bytes: int = 0
    # Applying retention lists the directory: not at every seal (one a second), but at most
    # this often.
    retention_every: float = 60.0


class _SegmentWriter:
    """Appends to one topic through an in-progress file and seals it by size or age."""

    def __init__(self, topic_dir: Path, policy: SegmentPolicy) -> None:
        self.dir = topic_dir
        self.policy = policy
        self._retention_due = 0.0
        self.dir.mkdir(parents=True, exist_ok=True)
        self._next_seq = self._max_seq() + 1
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._bytes = 0
        self._opened_at = 0.0
        self.recover_orphans()

    def _max_seq(self) -> int:
        seqs = [int(m.group(1)) for n in os.listdir(self.dir) if (m := SEGMENT_RE.match(n))]
        return max(seqs, default=0)

    def _link_next(self, path: Path) -> Path:
        while True:
            target = self.dir / segment_name(self._next_seq)
            try:
                os.link(path, target)
            except FileExistsError:
                self._next_seq += 1
                continue
            self._next_seq += 1
            return target

    def recover_orphans(self) -> int:
        """Seal in-progress files whose writer is gone (their lock is free). Returns how many."""
        sealed = 0
        for name in os.listdir(self.dir):
            if not name.startswith(IN_PROGRESS):
                continue
            path = self.dir / name
            try:
                f = open(path, "r+b")
            except FileNotFoundError:
                continue
            with f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    if e.errno in (errno.EAGAIN, errno.EACCES):
                        continue  # a live writer owns it
                    raise
                try:
                    if os.stat(path).st_ino != os.fstat(f.fileno()).st_ino:
                        continue  # sealed and replaced between listdir and open
                except FileNotFoundError:
                    continue
                if os.fstat(f.fileno()).st_nlink > 1:
                    # Sealed already (linked under a segment name) by a writer that died
                    # before it removed this name: sealing it again would publish it twice.
                    os.unlink(path)
                    continue
                data = f.read()
                complete = data[: data.rfind(b"\n") + 1]  # a torn last line was never acknowledged
                if complete:
                    f.truncate(len(complete))
                    f.flush()
                    os.fsync(f.fileno())
                    self._link_next(path)
                    sealed += 1
                os.unlink(path)
        if sealed:
            _fsync_dir(self.dir)
        return sealed

    def append(self, lines: list[bytes]) -> None:
        if self._file is None:
            self._path = self.dir / f"{IN_PROGRESS}{uuid.uuid4().hex}.ndjson"
            self._file = open(self._path, "xb")
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._bytes = 0
            self._opened_at = time.monotonic()
        data = b"".join(lines)
        self._file.write(data)
        self._file.flush()  # in the OS from here on: survives a crash of this process
        self._bytes += len(data)
        if self._bytes >= self.policy.max_bytes:
            self.seal()

    def due(self, now: float) -> bool:
        return self._file is not None and now - self._opened_at >= self.policy.max_seconds

    def seal(self) -> None:
        if self._file is None or self._path is None:
            return
        f, path = self._file, self._path
        self._file = self._path = None
        try:
            os.fsync(f.fileno())
            if self._bytes:
                self._link_next(path)  # still holding the lock, so no one else seals it
            os.unlink(path)
            _fsync_dir(self.dir)
        finally:
            f.close()
        now = time.monotonic()
        policy = self.policy
        if (policy.retention_seconds or policy.retention_bytes) and now >= self._retention_due:
            self._retention_due = now + policy.retention_every
            self.enforce_retention()

    def enforce_retention(self, now: float | None = None) -> int:
        """Delete the oldest segments past the retention limits; returns how many."""
        segments = []
        with os.scandir(self.dir) as it:
            for e in it:
                if SEGMENT_RE.match(e.name):
                    try:
                        st = e.stat()
                    except FileNotFoundError:
                        continue  # another writer's retention got there first
                    segments.append((e.name, st.st_size, st.st_mtime))
        segments.sort()
        total = sum(size for _, size, _ in segments)
        policy = self.policy
        cutoff = (time.time() if now is None else now) - policy.retention_seconds
        removed = 0
        for name, size, mtime in segments[:-1]:  # the newest stays: it tells the next number
            too_old = policy.retention_seconds and mtime < cutoff
            too_big = policy.retention_bytes and total > policy.retention_bytes
            if not (too_old or too_big):
                break
            try:
                os.unlink(self.dir / name)
            except FileNotFoundError:
                pass
            total -= size
            removed += 1
        return removed


class FileBackend(Backend):
    name = "file"

    def __init__(self, root: Path, segment_bytes: int = 1 << 20, segment_seconds: float = 1.0,
                 positions: PositionStore | None = None, retention_seconds: float = 0.0,
                 retention_bytes: int = 0, retention_every: float = 60.0) -> None:
        self.root = Path(root)
        self.topics_dir = self.root / "topics"
        self.positions = positions or PositionStore(self.root / "positions")
        self.segments = SegmentPolicy(segment_bytes, segment_seconds, retention_seconds,
                                      retention_bytes, retention_every)
        self._writers: dict[str, _SegmentWriter] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sealer: threading.Thread | None = None

    def topic_dir(self, topic: str) -> Path:
        return self.topics_dir / topic

    def _writer(self, topic: str) -> _SegmentWriter:
        w = self._writers.get(topic)
        if w is None:
            w = self._writers[topic] = _SegmentWriter(self.topic_dir(topic), self.segments)
            if self._sealer is None:
                self._sealer = threading.Thread(target=self._seal_loop, name="segment-sealer",
                                                daemon=True)
                self._sealer.start()
        return w

    def _seal_loop(self) -> None:
        tick = min(0.25, self.segments.max_seconds / 2)
        while not self._closed.wait(tick):
            now = time.monotonic()
            with self._lock:
                for w in self._writers.values():
                    if w.due(now):
                        w.seal()

    def publish(self, topic: str, records: Iterable[Record]) -> int:
        lines = []
        for r in records:
            if b"\n" in r.value:
                raise BackendError("a record's JSON must be a single line")
            lines.append(r.value + b"\n")
        if not lines:
            return 0
        with self._lock:
            if self._closed.is_set():
                raise BackendError("backend is closed")
            try:
                self._writer(topic).append(lines)
            except OSError as e:
                raise BackendError(f"cannot write topic {topic!r}: {e}") from e
        return len(lines)

    def flush(self) -> None:
        with self._lock:
            for w in self._writers.values():
                w.seal()

    def close(self) -> None:
        self.flush()
        self._closed.set()
        if self._sealer is not None:
            self._sealer.join(timeout=2)

    def subscribe(self, topic: str, group: str, start: StartAt = "earliest") -> "FileSubscription":
        check_start(self.name, start)
        return FileSubscription(self.topic_dir(topic), topic, group, self.positions, start)

    def read(self, topic: str, from_beginning: bool = False) -> "FileReader":
        d = self.topic_dir(topic)
        # The project's topics exist before their first record (a reader may wait for it).
        if topic not in TOPICS and not d.is_dir():
            raise BackendError(f"file backend: no topic {topic!r} (no directory {d})")
        return FileReader(FileSubscription(d, topic, None, self.positions,
                                           "earliest" if from_beginning else "latest"))


class FileReader(Reader):
    """A FileSubscription of no group: nothing loaded, nothing saved, no directory created."""

    def __init__(self, sub: "FileSubscription") -> None:
        self._sub, self.topic = sub, sub.topic

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        return self._sub.poll(max_records, timeout)

    def close(self) -> None:
        self._sub.close()


class FileSubscription(Subscription):
    def __init__(self, topic_dir: Path, topic: str, group: str | None, positions: PositionStore,
                 start: StartAt) -> None:
        """`group=None`: a reader of no group (see `FileReader`), which never touches positions."""
        self.dir, self.topic, self.group, self._store = topic_dir, topic, group, positions
        saved = None
        if group is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            saved = positions.load(group, topic)
        if saved is None:
            saved = {"seq": 0, "others": [], "current": None, "offset": 0}
            if start == "latest":
                seqs, others = self._sealed()
                saved["seq"] = max(seqs, default=0)
                saved["others"] = sorted(others)
            elif isinstance(start, datetime):
                saved["seq"], saved["others"] = self._sealed_before(start)
        self._seq: int = saved["seq"]
        self._others: set[str] = set(saved["others"])
        self._current: str | None = saved["current"]
        self._offset: int = saved["offset"]
        self._file: IO[bytes] | None = None
        self._queue: list[str] = []  # other files the last listing found unread, in order

    def _sealed(self) -> tuple[list[int], dict[str, float]]:
        seqs, others = [], {}
        try:
            it = os.scandir(self.dir)
        except FileNotFoundError:  # a topic no one has written yet (readers do not create it)
            return seqs, others
        with it:
            for e in it:
                if not _visible(e.name) or not e.is_file():
                    continue
                if m := SEGMENT_RE.match(e.name):
                    seqs.append(int(m.group(1)))
                else:
                    others[e.name] = e.stat().st_mtime_ns
        return seqs, others

    def _sealed_before(self, instant: datetime) -> tuple[int, list[str]]:
        """The position of a reader from `instant`: past the segments and other files sealed
        before it (less the margin), so the first segment sealed after it is the next one read."""
        cutoff = instant.timestamp() - SEAL_TIME_MARGIN_S
        seqs, others = self._sealed()
        seqs.sort()
        # Sequence numbers follow the order of sealing, so the ones sealed before the cutoff are
        # a prefix: a binary search finds its end with a few stats, however long the topic.
        n = bisect.bisect_left(seqs, True,
                               key=lambda s: self._sealed_at(segment_name(s)) >= cutoff)
        seq = seqs[n - 1] if n else (seqs[0] - 1 if seqs else 0)
        return seq, sorted(name for name in others if self._sealed_at(name) < cutoff)

    def _sealed_at(self, name: str) -> float:
        try:
            return os.stat(self.dir / name).st_ctime
        except FileNotFoundError:  # just removed by retention, which takes the oldest first
            return float("-inf")

    def _next_file(self) -> str | None:
        following = segment_name(self._seq + 1)
        if os.path.exists(self.dir / following):  # nearly always: no listing needed
            return following
        if self._queue:
            return self._queue.pop(0)
        seqs, others = self._sealed()
        newer = [s for s in seqs if s > self._seq]
        if newer:
            first = min(newer)
            log.warning("%s: segments %d to %d were removed (retention) before %s read them; "
                        "going on from segment %d", self.topic, self._seq + 1, first - 1,
                        f"group {self.group!r}" if self.group else "this reader", first)
            return segment_name(first)
        # Forget names that are gone, so the saved position stays small.
        self._others.intersection_update(others)
        self._queue = sorted((n for n in others if n not in self._others),
                             key=lambda n: (others[n], n))
        return self._queue.pop(0) if self._queue else None

    def _finish_current(self) -> None:
        assert self._current is not None
        if m := SEGMENT_RE.match(self._current):
            self._seq = int(m.group(1))
        else:
            self._others.add(self._current)
        self._current, self._offset = None, 0
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read(self, max_records: int) -> list[Message]:
        out: list[Message] = []
        while len(out) < max_records:
            if self._current is None:
                self._current = self._next_file()
                self._offset = 0
                if self._current is None:
                    break
            if self._file is None:
                try:
                    self._file = open(self.dir / self._current, "rb")
                except FileNotFoundError:  # removed by hand: nothing left to read in it
                    self._finish_current()
                    continue
                self._file.seek(self._offset)
            line = self._file.readline()
            if not line:
                self._finish_current()
                continue
            self._offset += len(line)
            line = line.rstrip(b"\r\n")
            if line.strip():
                out.append(Message(self.topic, line, None, (self._current, self._offset)))
        return out

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            out = self._read(max_records)
            remaining = deadline - time.monotonic()
            if out or remaining <= 0:
                return out
            time.sleep(min(0.05, remaining))

    def commit(self) -> None:
        if self.group is None:
            raise BackendError("file backend: a reader of no group has no position to commit")
        self._store.save(self.group, self.topic, {
            "seq": self._seq, "others": sorted(self._others),
            "current": self._current, "offset": self._offset,
        })

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
