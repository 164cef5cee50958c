"""The Kinesis Data Streams backend, on boto3.

Each topic is the stream `stream_prefix + topic` (created by infra/, never by this code).

Publishing uses PutRecords in batches of at most 500 records and 5 MiB, partition key = the
record's key (the symbol). Entries that a batch reports as failed with a transient error are
re-sent alone, with exponential backoff and a capped number of attempts; whatever is still not
stored after the last attempt makes `publish` raise. A retried entry can land after a later
record of the same symbol: consumers order by event time, not by arrival.

A subscription reads every shard itself (no KCL, no DynamoDB lease table): one consumer per
group, which is how the services here run. It follows resharding: a shard that ends (GetRecords
stops returning an iterator, or the listing shows it closed and we have read up to its ending
sequence number) hands over to its children, and a child is only read once all of its parents
are finished, so records of one symbol stay in order across a split or merge.

Positions are saved in the local PositionStore as {shard_id: position}, KCL style: a position
is a sequence number (resume AFTER it) or a sentinel: `TRIM_HORIZON` (nothing delivered yet,
read from the start), `AT_TIMESTAMP:<epoch seconds>` (a "latest" or start-time subscription that
has delivered nothing from that shard yet) or `SHARD_END` (finished; its children are ours).

A subscription from a start time reads every shard the stream lists (closed ones too, parents
first) from an AT_TIMESTAMP iterator: the records whose ApproximateArrivalTimestamp is at or after
it; shards created later are read from their start.

`read` (for `tradeflow topic read`) walks the shards the same way for no group: it loads and
saves no position. "From now" opens a LATEST iterator on every open shard before it returns.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .base import (Backend, BackendError, Message, Reader, Record, StartAt, Subscription,
                   check_start)
from .positions import PositionStore

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024  # data + partition key
MAX_KEY_CHARS = 256
# Per-entry error codes worth another attempt; anything else (e.g. KMS access denied) will not
# get better by waiting.
RETRYABLE_ENTRY_ERRORS = frozenset({
    "ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"})

TRIM_HORIZON = "TRIM_HORIZON"
SHARD_END = "SHARD_END"
AT_TIMESTAMP = "AT_TIMESTAMP:"
# A "latest" subscription that restarts before delivering anything resumes at its start time
# minus this, so a local clock slightly ahead of AWS's costs a few duplicates, not lost records.
LATEST_CLOCK_MARGIN_S = 5.0
# Kinesis allows 5 GetRecords per second per shard, shared by all readers of the shard.
MIN_GET_INTERVAL_S = 0.2
THROTTLED_BACKOFF_S = 1.0


@dataclass(frozen=True)
class Backoff:
    """The wait before re-sending the entries a PutRecords batch failed on: doubling from
    `base_delay` with each attempt, up to `max_delay`, then jittered."""

    base_delay: float
    max_delay: float

    def delay(self, attempt: int) -> float:
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # jitter: writers that collided spread out


def _client_error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


class KinesisBackend(Backend):
    name = "kinesis"

    def __init__(self, region: str, endpoint_url: str | None = None, stream_prefix: str = "", *,
                 positions: PositionStore, client: Any = None, max_attempts: int = 5,
                 retry_base_delay: float = 0.1, retry_max_delay: float = 2.0,
                 idle_poll_seconds: float = 0.5, shard_refresh_seconds: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """`client` replaces the boto3 client (tests); `idle_poll_seconds` is how long a shard
        that returned nothing rests before the next GetRecords; `shard_refresh_seconds` how often
        an idle subscription re-lists shards to notice resharding; `sleep` and `monotonic` are
        the clock that retries and subscriptions' polls wait on (a fake one in tests)."""
        self.region = region
        self.endpoint_url = endpoint_url or None
        self.stream_prefix = stream_prefix
        self.positions = positions
        if client is None:
            # boto3 would also read AWS_ENDPOINT_URL on its own; passing the setting makes the
            # endpoint follow tradeflow's Settings even when they came from somewhere else.
            client = boto3.session.Session().client(
                "kinesis", region_name=region, endpoint_url=self.endpoint_url,
                config=Config(retries={"mode": "standard", "max_attempts": 4},
                              connect_timeout=5, read_timeout=15))
        self.client = client
        self.max_attempts = max(1, max_attempts)
        self.backoff = Backoff(retry_base_delay, retry_max_delay)
        self.idle_poll_seconds = idle_poll_seconds
        self.shard_refresh_seconds = shard_refresh_seconds
        self._sleep = sleep
        self._monotonic = monotonic

    def stream_name(self, topic: str) -> str:
        return f"{self.stream_prefix}{topic}"

    def call(self, what: str, stream: str, fn: Callable[..., dict[str, Any]],
             **kwargs: Any) -> dict[str, Any]:
        """One API call, with AWS errors turned into BackendError (botocore already retried
        throttling and 5xx on the whole call)."""
        try:
            return fn(**kwargs)
        except ClientError as e:
            if _client_error_code(e) == "ResourceNotFoundException":
                raise self.missing_stream(stream, e) from None
            raise BackendError(f"kinesis backend: {what} on stream {stream!r} failed: {e}") from e
        except BotoCoreError as e:  # no credentials, endpoint unreachable, ...
            raise BackendError(
                f"kinesis backend: {what} on stream {stream!r} failed: {e} (region {self.region}, "
                f"endpoint {self.endpoint_url or 'AWS'})") from e

    def missing_stream(self, stream: str, error: Exception) -> BackendError:
        return BackendError(
            f"kinesis backend: stream {stream!r} does not exist in {self.region} at "
            f"{self.endpoint_url or 'AWS'} ({error}). Streams are created by infra/ (one per "
            "topic); check TRADEFLOW_KINESIS_STREAM_PREFIX, AWS_REGION and AWS_ENDPOINT_URL.")

    # --- publishing ---------------------------------------------------------------------------

    def publish(self, topic: str, records: Iterable[Record]) -> int:
        # Validate everything first, so a bad record cannot leave half a publish behind.
        entries = [_entry(r) for r in records]
        stream = self.stream_name(topic)
        stored = 0
        for batch in _batches(entries):
            unsent = len(entries) - stored - len(batch)
            try:
                failed, attempts = self._put_batch(stream, batch)
            except BackendError as e:
                raise BackendError(f"kinesis backend: {len(entries) - stored} of {len(entries)} "
                                   f"records to stream {stream!r} were not stored: {e}") from e
            if failed:
                codes = sorted({code for _, code in failed})
                raise BackendError(
                    f"kinesis backend: {len(failed) + unsent} of {len(entries)} records to "
                    f"stream {stream!r} were not stored ({len(failed)} still failing after "
                    f"{attempts} attempt(s) with {', '.join(codes)}; {unsent} not sent)")
            stored += len(batch)
        return stored

    def broadcast(self, topic: str, value: bytes) -> int:
        """One record on each open shard, placed by the shard's first hash key."""
        stream = self.stream_name(topic)
        shards, token = [], None
        while True:
            kwargs = {"NextToken": token} if token else {"StreamName": stream}
            resp = self.call("ListShards", stream, self.client.list_shards, **kwargs)
            shards += [s for s in resp["Shards"]
                       if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
            token = resp.get("NextToken")
            if not token:
                break
        entries = [{"Data": value, "PartitionKey": "*",
                    "ExplicitHashKey": s["HashKeyRange"]["StartingHashKey"]} for s in shards]
        failed, attempts = self._put_batch(stream, entries) if entries else ([], 0)
        if failed:
            raise BackendError(f"kinesis backend: {len(failed)} of {len(entries)} shard records "
                               f"to stream {stream!r} were not stored after {attempts} attempt(s)")
        return len(entries)

    def _put_batch(self, stream: str,
                   batch: list[dict[str, Any]]) -> tuple[list[tuple[dict, str]], int]:
        """Sends `batch`, re-sending only failed entries. Returns what failed in the end, with
        its error code, and how many attempts were made."""
        pending = batch
        failures: list[tuple[dict, str]] = []
        for attempt in range(1, self.max_attempts + 1):
            resp = self.call("PutRecords", stream, self.client.put_records,
                             StreamName=stream, Records=pending)
            if not resp.get("FailedRecordCount"):
                return [], attempt
            failures = [(entry, res["ErrorCode"])
                        for entry, res in zip(pending, resp["Records"]) if res.get("ErrorCode")]
            if any(code not in RETRYABLE_ENTRY_ERRORS for _, code in failures):
                return failures, attempt
            pending = [entry for entry, _ in failures]
            if attempt < self.max_attempts:
                log.info("kinesis: %d of %d records to %s throttled or failed; retrying",
                         len(pending), len(batch), stream)
                self._sleep(self.backoff.delay(attempt))
        return failures, self.max_attempts

    # --- subscribing --------------------------------------------------------------------------

    def subscribe(self, topic: str, group: str,
                  start: StartAt = "earliest") -> "KinesisSubscription":
        check_start(self.name, start)
        return KinesisSubscription(self, topic, group, start)

    def read(self, topic: str, from_beginning: bool = False) -> "KinesisReader":
        sub = KinesisSubscription(self, topic, None, "earliest" if from_beginning else "latest")
        # Open the LATEST iterators now rather than at the first poll, so that "new records"
        # are exactly those that arrive after `read` returned.
        for reader in list(sub._readers.values()):
            if reader.open_latest:
                reader.iterator = sub._iterator(reader)
        return KinesisReader(sub)

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()


def _entry(r: Record) -> dict[str, Any]:
    if not r.key:
        raise BackendError("kinesis backend: a record needs a non-empty key (its partition key)")
    if len(r.key) > MAX_KEY_CHARS:
        raise BackendError(f"kinesis backend: partition key longer than {MAX_KEY_CHARS} characters")
    if len(r.value) + len(r.key.encode()) > MAX_RECORD_BYTES:
        raise BackendError(f"kinesis backend: record for key {r.key!r} is over 1 MiB")
    return {"Data": r.value, "PartitionKey": r.key}


def _size(entry: dict[str, Any]) -> int:
    return len(entry["Data"]) + len(entry["PartitionKey"].encode())


def _batches(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for e in entries:
        n = _size(e)
        if batch and (len(batch) == MAX_BATCH_RECORDS or size + n > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(e)
        size += n
    if batch:
        yield batch


# --- reading ----------------------------------------------------------------------------------

@dataclass
class _Shard:
    shard_id: str
    parents: tuple[str, ...]
    ending: int | None  # EndingSequenceNumber once the shard is closed


@dataclass
class _Reader:
    shard_id: str
    position: str  # sequence number of the last delivered record, or a sentinel
    open_latest: bool = False  # the very first iterator of a fresh "latest" subscription
    iterator: str | None = None
    next_at: float = 0.0  # monotonic time before which the shard is not asked again


def _seq(position: str) -> int | None:
    return int(position) if position.isdigit() else None


class KinesisReader(Reader):
    """A KinesisSubscription of no group: no position is loaded or saved."""

    def __init__(self, sub: "KinesisSubscription") -> None:
        self._sub, self.topic = sub, sub.topic

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        return self._sub.poll(max_records, timeout)


class KinesisSubscription(Subscription):
    def __init__(self, backend: KinesisBackend, topic: str, group: str | None,
                 start: StartAt) -> None:
        """`group=None`: a reader of no group (see `KinesisReader`): starts at `start`, and
        never loads or saves positions."""
        self.backend, self.topic, self.group = backend, topic, group
        self.stream = backend.stream_name(topic)
        self._client = backend.client
        self._shards: dict[str, _Shard] = {}
        self._readers: dict[str, _Reader] = {}
        self._pending: dict[str, str] = {}  # ours, waiting for their parents to finish
        self._finished: set[str] = set()
        self._ignored: set[str] = set()  # closed before this group started reading
        self._listed_at = 0.0
        self._turn = 0
        self._error: BackendError | None = None
        self._list_shards()
        self._start(start)
        self._promote()

    # Shard bookkeeping.

    def _list_shards(self) -> None:
        shards: dict[str, _Shard] = {}
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        while True:
            resp = self.backend.call("ListShards", self.stream, self._client.list_shards, **kwargs)
            for s in resp.get("Shards", []):
                parents = tuple(p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId"))
                                if p)
                ending = s.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
                shards[s["ShardId"]] = _Shard(s["ShardId"], parents,
                                              int(ending) if ending is not None else None)
            token = resp.get("NextToken")
            if not token:
                break
            kwargs = {"NextToken": token}  # ListShards refuses StreamName next to a token
        self._shards = shards
        self._listed_at = self.backend._monotonic()

    def _ours(self, shard_id: str) -> bool:
        return shard_id in self._readers or shard_id in self._pending or shard_id in self._finished

    def _start(self, start: StartAt) -> None:
        saved = (self.backend.positions.load(self.group, self.topic) or {}
                 if self.group is not None else {})
        known = {sid: pos for sid, pos in saved.items() if sid in self._shards}
        if saved and not known:
            log.warning("kinesis: saved positions of group %s on %s name no current shard "
                        "(expired or stream recreated); starting at %s", self.group, self.stream,
                        start)
        if known:
            for sid, pos in known.items():
                if pos == SHARD_END:
                    self._finished.add(sid)
                else:
                    self._readers[sid] = _Reader(sid, pos)
            self._adopt_new(default_ours=False)
        elif start == "earliest":
            self._pending = {sid: TRIM_HORIZON for sid in self._shards}
        elif isinstance(start, datetime):
            # Kinesis stamps arrivals to the millisecond: round down, so a record of the same
            # millisecond as the instant is not lost. Closed shards too, as they may hold records
            # after the instant (`_promote` still reads parents before their children).
            ms = max(0, int(start.timestamp() * 1000))
            self._pending = {sid: f"{AT_TIMESTAMP}{ms / 1000:.3f}" for sid in self._shards}
        else:
            since = f"{AT_TIMESTAMP}{time.time() - LATEST_CLOCK_MARGIN_S:.3f}"
            for sid, shard in self._shards.items():
                if shard.ending is None:
                    self._readers[sid] = _Reader(sid, since, open_latest=True)
                else:
                    self._ignored.add(sid)

    def _adopt_new(self, default_ours: bool = True) -> None:
        """Classify shards we have not seen: descendants of ours (and any open shard, so nothing
        is ever left unread) are read from their start; the rest is history before our time."""
        changed = True
        while changed:  # children may be listed before their parents
            changed = False
            for sid, shard in self._shards.items():
                if self._ours(sid) or sid in self._ignored:
                    continue
                if any(self._ours(p) for p in shard.parents):
                    self._pending[sid] = TRIM_HORIZON
                    changed = True
        for sid, shard in self._shards.items():
            if self._ours(sid) or sid in self._ignored:
                continue
            if default_ours or shard.ending is None:
                self._pending[sid] = TRIM_HORIZON
            else:
                self._ignored.add(sid)

    def _promote(self) -> None:
        for sid, pos in list(self._pending.items()):
            parents = self._shards[sid].parents if sid in self._shards else ()
            if any(p in self._readers or p in self._pending for p in parents):
                continue  # a parent still has older records of the same keys
            del self._pending[sid]
            self._readers[sid] = _Reader(sid, pos)

    def _refresh(self) -> None:
        self._list_shards()
        self._adopt_new()
        self._promote()

    def _finish(self, reader: _Reader) -> None:
        del self._readers[reader.shard_id]
        self._finished.add(reader.shard_id)
        self._refresh()

    # Reading.

    def _iterator(self, reader: _Reader) -> str | None:
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": reader.shard_id}
        pos = reader.position
        if reader.open_latest:
            kwargs["ShardIteratorType"] = "LATEST"
        elif (seq := _seq(pos)) is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                          StartingSequenceNumber=str(seq))
        elif pos.startswith(AT_TIMESTAMP):
            kwargs.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=datetime.fromtimestamp(
                float(pos[len(AT_TIMESTAMP):]), timezone.utc))
        else:
            kwargs["ShardIteratorType"] = TRIM_HORIZON
        try:
            resp = self._client.get_shard_iterator(**kwargs)
        except ClientError as e:
            if _client_error_code(e) != "ResourceNotFoundException":
                raise BackendError(
                    f"kinesis backend: GetShardIterator on {self.stream!r} failed: {e}") from e
            self._list_shards()  # raises the missing-stream error if the stream is gone
            if reader.shard_id in self._shards:
                raise BackendError(
                    f"kinesis backend: GetShardIterator on {self.stream!r} failed: {e}") from e
            log.warning("kinesis: shard %s of %s expired before it was read to its end",
                        reader.shard_id, self.stream)
            return None
        except BotoCoreError as e:
            raise BackendError(
                f"kinesis backend: GetShardIterator on {self.stream!r} failed: {e}") from e
        reader.open_latest = False
        return resp.get("ShardIterator")

    def _at_end(self, reader: _Reader) -> bool:
        shard = self._shards.get(reader.shard_id)
        if shard is None or shard.ending is None:
            return False
        return (_seq(reader.position) or 0) >= shard.ending

    def _read(self, reader: _Reader, limit: int, out: list[Message]) -> None:
        now = self.backend._monotonic()
        if reader.iterator is None:
            reader.iterator = self._iterator(reader)
            if reader.iterator is None:
                self._finish(reader)
                return
        try:
            resp = self._client.get_records(ShardIterator=reader.iterator, Limit=min(limit, 10_000))
        except ClientError as e:
            code = _client_error_code(e)
            if code == "ExpiredIteratorException":  # iterators live 5 minutes
                reader.iterator = None
                return
            if code == "ProvisionedThroughputExceededException":
                reader.next_at = now + THROTTLED_BACKOFF_S
                return
            if code == "ResourceNotFoundException":
                raise self.backend.missing_stream(self.stream, e) from None
            raise BackendError(f"kinesis backend: GetRecords on {self.stream!r} failed: {e}") from e
        except BotoCoreError as e:
            raise BackendError(f"kinesis backend: GetRecords on {self.stream!r} failed: {e}") from e
        records = resp.get("Records", [])
        for r in records:
            out.append(Message(self.topic, r["Data"], r.get("PartitionKey"),
                               (reader.shard_id, r["SequenceNumber"])))
        if records:
            reader.position = records[-1]["SequenceNumber"]
        reader.iterator = resp.get("NextShardIterator")
        reader.next_at = now + (MIN_GET_INTERVAL_S if records else self.backend.idle_poll_seconds)
        if reader.iterator is None or self._at_end(reader):
            self._finish(reader)

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        deadline = self.backend._monotonic() + timeout
        while True:
            out: list[Message] = []
            try:
                self._poll_round(max_records, out)
            except BackendError as e:
                if not out:
                    raise
                # Positions already cover what is in `out`: hand it over, report the error next.
                self._error = e
            if out:
                return out
            now = self.backend._monotonic()
            if now - self._listed_at >= self.backend.shard_refresh_seconds:
                self._refresh()
            if now >= deadline:
                return []
            wake = min((r.next_at for r in self._readers.values()), default=deadline)
            if wake > now:
                self.backend._sleep(min(wake, deadline) - now)

    def _poll_round(self, max_records: int, out: list[Message]) -> None:
        """One GetRecords on every shard that is due, appending to `out`."""
        readers = list(self._readers.values())
        self._turn += 1
        if readers:  # rotate the start, so one busy shard cannot starve the others
            k = self._turn % len(readers)
            readers = readers[k:] + readers[:k]
        now = self.backend._monotonic()
        for reader in readers:
            if len(out) >= max_records:
                break
            if reader.next_at <= now and reader.shard_id in self._readers:
                self._read(reader, max_records - len(out), out)

    def commit(self) -> None:
        if self.group is None:
            raise BackendError("kinesis backend: a reader of no group has no position to commit")
        state = {sid: r.position for sid, r in self._readers.items()}
        for sid in self._finished:
            children = [c for c, s in self._shards.items() if sid in s.parents]
            # A finished shard is kept only while it is how a restart finds its children.
            if not children or not all(c in state or c in self._finished for c in children):
                state[sid] = SHARD_END
        self.backend.positions.save(self.group, self.topic, state)
