"""The Kafka / Redpanda backend, on kafka-python.

Producer: keys are the symbol (UTF-8), values the JSON bytes as given; `acks="all"` with the
idempotent producer, so a broker-side retry never writes a record twice. `publish` waits for the
broker's acknowledgement of every record and raises if any was not stored; the next publish
then starts a new producer.

Consumer: one `KafkaConsumer` per subscription, in the broker-managed consumer group `group`,
auto-commit off. `commit()` synchronously commits the offset after the last record `poll`
delivered on each partition, so a restart (or another group member) resumes exactly there.
A partition the group has no committed offset for starts at `start`: "earliest"/"latest" are
kafka-python's reset policies; a start time is the first record whose timestamp is at or after it
(`offsets_for_times`; the producer's send time, or the broker's append time on a topic set to
LogAppendTime), else the partition's end, looked up whenever such a partition is assigned.

Reader (`read`, for `tradeflow topic read`): a consumer of no group (`group_id=None`) that is
assigned every partition of the topic and seeks to its start or end; it never commits, so no
group's position moves.

kafka-python 3.x talks to the broker while it constructs a client (it resolves the broker's API
version eagerly), so a missing broker shows up there; `bootstrap_timeout_ms` bounds how long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError
from kafka.serializer import DefaultSerializer
from kafka.structs import OffsetAndMetadata

from .base import (Backend, BackendError, Message, Reader, Record, StartAt, Subscription,
                   check_start)

# Seconds. Short enough that a missing broker is reported in seconds, long enough for a broker
# that is merely busy.
BOOTSTRAP_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
# The producer's own retries (unbounded by count in kafka-python 3) stop at this deadline; the
# result of every record is known by then, so `publish` never waits longer than this.
DELIVERY_TIMEOUT_S = 30.0

Factory = Callable[..., Any]


def producer_config(bootstrap_servers: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": _servers(bootstrap_servers),
        "client_id": "tradeflow-producer",
        "key_serializer": DefaultSerializer("utf-8"),
        "acks": "all",
        # Explicit (not just the library default): kafka-python then refuses to start against
        # a broker without idempotence support instead of silently downgrading.
        "enable_idempotence": True,
        # Retries are left to kafka-python's default (until delivery_timeout_ms), which is what
        # its docs recommend; a count would cut them short during a leader election.
        "delivery_timeout_ms": int(DELIVERY_TIMEOUT_S * 1000),
        "request_timeout_ms": int(REQUEST_TIMEOUT_S * 1000),
        # A few ms of batching costs nothing next to bar intervals and cuts requests a lot
        # when a producer emits one record per symbol at the same instant.
        "linger_ms": 5,
        "max_block_ms": int(REQUEST_TIMEOUT_S * 1000),
        "bootstrap_timeout_ms": int(BOOTSTRAP_TIMEOUT_S * 1000),
    }


def consumer_config(bootstrap_servers: str, group: str, start: StartAt) -> dict[str, Any]:
    return {
        "bootstrap_servers": _servers(bootstrap_servers),
        "client_id": f"tradeflow-{group}",
        "group_id": group,
        "key_deserializer": DefaultSerializer("utf-8"),
        # Positions move only when the caller says its work is done (at-least-once).
        "enable_auto_commit": False,
        # With a start time, no policy: kafka-python then raises NoOffsetForPartitionError from
        # poll for the partitions without a committed offset, and KafkaSubscription.poll seeks
        # them to that time. (A rebalance listener cannot: kafka-python 3 runs it on its IO
        # thread, where the blocking offsets_for_times is refused.)
        "auto_offset_reset": "none" if isinstance(start, datetime) else start,
        # The Flink sink writes in transactions (exactly once): never act on an aborted one.
        "isolation_level": "read_committed",
        "request_timeout_ms": int(REQUEST_TIMEOUT_S * 1000),
        "bootstrap_timeout_ms": int(BOOTSTRAP_TIMEOUT_S * 1000),
    }


def reader_config(bootstrap_servers: str) -> dict[str, Any]:
    """A consumer outside any group: partitions are assigned by hand, nothing is committed."""
    return {
        "bootstrap_servers": _servers(bootstrap_servers),
        "client_id": "tradeflow-reader",
        "group_id": None,
        "key_deserializer": DefaultSerializer("utf-8"),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",  # only if a position falls out of the retained range
        "isolation_level": "read_committed",  # what the project's consumers see
        "request_timeout_ms": int(REQUEST_TIMEOUT_S * 1000),
        "bootstrap_timeout_ms": int(BOOTSTRAP_TIMEOUT_S * 1000),
    }


def _servers(bootstrap_servers: str) -> list[str]:
    servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    if not servers:
        raise BackendError("kafka backend: TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS is empty")
    return servers


class _KafkaConsumer(KafkaConsumer):
    """KafkaConsumer that does not leave its IO thread behind when the broker is missing.

    kafka-python 3.0.12 starts the consumer's network thread before bootstrapping and does not
    stop it when bootstrapping fails in `__init__`; a service retrying its subscription would
    collect one such thread per attempt.
    """

    def __init__(self, *topics: str, **configs: Any) -> None:
        try:
            super().__init__(*topics, **configs)
        except BaseException:
            client = getattr(self, "_client", None)
            if client is not None:
                try:
                    client.close()
                finally:
                    net = getattr(self, "_net", None)
                    if net is not None:
                        net.stop(timeout_ms=1000)
            raise


def _no_broker(bootstrap_servers: str, error: Exception) -> BackendError:
    return BackendError(
        f"kafka backend: no broker reachable at {bootstrap_servers} within "
        f"{BOOTSTRAP_TIMEOUT_S:g}s ({error}). The kafka backend needs a running Kafka or Redpanda "
        "broker (see the production stack); set TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS to it, or use "
        "TRADEFLOW_BACKEND=file to run without one.")


class KafkaBackend(Backend):
    name = "kafka"

    def __init__(self, bootstrap_servers: str, *, producer_factory: Factory = KafkaProducer,
                 consumer_factory: Factory = _KafkaConsumer) -> None:
        """`producer_factory`/`consumer_factory` are called with the client config as keyword
        arguments (the consumer also with the topic first); tests pass fakes there."""
        self.bootstrap_servers = bootstrap_servers
        _servers(bootstrap_servers)  # fail on an empty setting now, not at first use
        self._producer_factory = producer_factory
        self._consumer_factory = consumer_factory
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get_producer(self) -> Any:
        # Lazy: a service that only consumes never needs a producer connection.
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = self._producer_factory(
                        **producer_config(self.bootstrap_servers))
                except KafkaError as e:
                    raise _no_broker(self.bootstrap_servers, e) from None
            return self._producer

    def publish(self, topic: str, records: Iterable[Record]) -> int:
        batch = list(records)
        if not batch:
            return 0
        producer = self._get_producer()
        futures = []
        failed: list[BaseException] = []
        for r in batch:
            try:
                futures.append(producer.send(topic, key=r.key, value=r.value))
            except KafkaError as e:  # metadata unavailable within max_block_ms, buffer full, ...
                failed.append(e)
        for f in futures:
            try:
                # delivery_timeout_ms guarantees an outcome; the margin only covers clock slop.
                f.get(timeout=DELIVERY_TIMEOUT_S + REQUEST_TIMEOUT_S)
            except KafkaError as e:
                failed.append(e)
        if failed:
            self._discard_producer(producer)
            raise BackendError(
                f"kafka backend: {len(failed)} of {len(batch)} records to topic {topic!r} were "
                f"not stored by {self.bootstrap_servers}: {failed[0]!r}")
        return len(batch)

    def _discard_producer(self, producer: Any) -> None:
        """The next publish builds a new producer. kafka-python 3.0.12's idempotent producer
        can stay without a usable connection after a broker restart expired its batches (seen
        in CI: nothing stored for three minutes with the broker up); a new one recovers at once.
        The failed batch is the caller's to send again in any case, so nothing is lost."""
        with self._lock:
            if self._producer is not producer:
                return  # another thread already replaced it
            self._producer = None
        try:
            producer.close(timeout=1.0)  # a record still pending fails; it is sent again
        except KafkaError:
            pass

    def broadcast(self, topic: str, value: bytes) -> int:
        producer = self._get_producer()
        partitions = sorted(producer.partitions_for(topic) or ())
        try:
            futures = [producer.send(topic, value=value, partition=p) for p in partitions]
            for f in futures:
                f.get(timeout=DELIVERY_TIMEOUT_S + REQUEST_TIMEOUT_S)
        except KafkaError as e:
            self._discard_producer(producer)
            raise BackendError(f"kafka backend: a record for every partition of {topic!r} was "
                               f"not stored by {self.bootstrap_servers}: {e!r}") from e
        return len(partitions)

    def flush(self) -> None:
        with self._lock:
            producer = self._producer
        if producer is not None:
            try:
                producer.flush(timeout=DELIVERY_TIMEOUT_S)
            except KafkaError as e:
                raise BackendError(f"kafka backend: flush failed: {e!r}") from e

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.flush(timeout=DELIVERY_TIMEOUT_S)
        except KafkaError as e:
            raise BackendError(f"kafka backend: flush on close failed: {e!r}") from e
        finally:
            producer.close(timeout=REQUEST_TIMEOUT_S)

    def subscribe(self, topic: str, group: str, start: StartAt = "earliest") -> "KafkaSubscription":
        check_start(self.name, start)
        try:
            consumer = self._consumer_factory(
                topic, **consumer_config(self.bootstrap_servers, group, start))
        except KafkaError as e:
            raise _no_broker(self.bootstrap_servers, e) from None
        try:
            # The group's leader assigns the partitions its metadata holds when it joins, at the
            # first poll. Without this topic yet it assigns none and rejoins only after a later
            # metadata refresh (seen taking over 3 minutes on a loaded machine). Fetched now,
            # the topic is assigned at the first join.
            consumer.partitions_for_topic(topic)
        except KafkaError as e:
            consumer.close(autocommit=False)
            raise BackendError(f"kafka backend: cannot subscribe to topic {topic!r}: {e!r}") from None
        return KafkaSubscription(consumer, topic, group,
                                 since=start if isinstance(start, datetime) else None)

    def read(self, topic: str, from_beginning: bool = False) -> "KafkaReader":
        try:
            consumer = self._consumer_factory(**reader_config(self.bootstrap_servers))
        except KafkaError as e:
            raise _no_broker(self.bootstrap_servers, e) from None
        try:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise BackendError(
                    f"kafka backend: topic {topic!r} does not exist at {self.bootstrap_servers}")
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            if from_beginning:
                consumer.seek_to_beginning(*tps)
            else:
                consumer.seek_to_end(*tps)
                # Resolve the end offsets now (kafka-python does it lazily, at the first fetch):
                # "new records" are then exactly those that arrive after `read` returned.
                for tp in tps:
                    if consumer.position(tp, timeout_ms=int(REQUEST_TIMEOUT_S * 1000)) is None:
                        raise BackendError(
                            f"kafka backend: no end offset for {tp} from "
                            f"{self.bootstrap_servers} within {REQUEST_TIMEOUT_S:g}s")
        except KafkaError as e:
            consumer.close(autocommit=False)
            raise BackendError(f"kafka backend: cannot read topic {topic!r}: {e!r}") from None
        except BaseException:
            consumer.close(autocommit=False)
            raise
        return KafkaReader(consumer, topic)


def _poll(consumer: Any, max_records: int, timeout: float, what: str) -> dict[TopicPartition, list]:
    try:
        return consumer.poll(timeout_ms=max(0, int(timeout * 1000)), max_records=max_records)
    except KafkaError as e:
        raise BackendError(f"kafka backend: {what} failed: {e!r}") from e


def _message(rec: Any) -> Message:
    return Message(rec.topic, rec.value, rec.key, (rec.partition, rec.offset))


class KafkaSubscription(Subscription):
    def __init__(self, consumer: Any, topic: str, group: str,
                 since: datetime | None = None) -> None:
        """`since`: the start time of a consumer made without a reset policy (`consumer_config`)."""
        self.consumer, self.topic, self.group, self.since = consumer, topic, group, since
        # Next offset to read per partition, for what poll() has handed out since the last commit.
        self._delivered: dict[TopicPartition, OffsetAndMetadata] = {}

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        what = f"poll of topic {self.topic!r}"
        deadline = time.monotonic() + timeout
        timeout_ms = max(0, int(timeout * 1000))
        while True:
            try:
                batches = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
                break
            except NoOffsetForPartitionError as e:  # only without a reset policy: `since` is set
                self._seek_since(what, e.args[0])
            except OffsetOutOfRangeError as e:  # likewise: retention passed our position
                self.consumer.seek_to_beginning(*e.args[0])
            except KafkaError as e:
                raise BackendError(f"kafka backend: {what} failed: {e!r}") from e
            timeout_ms = max(0, int((deadline - time.monotonic()) * 1000))
        out: list[Message] = []
        for tp, recs in batches.items():
            out += [_message(rec) for rec in recs]
            if recs:
                last = recs[-1]
                self._delivered[tp] = OffsetAndMetadata(last.offset + 1, "", last.leader_epoch)
        return out

    def _seek_since(self, what: str, partitions: Iterable[TopicPartition]) -> None:
        """Place newly assigned partitions with no committed offset at the first record at or
        after `since`, or at their end when no record is that recent."""
        assert self.since is not None, "NoOffsetForPartitionError without a start time"
        tps = sorted(partitions)
        ms = max(0, int(self.since.timestamp() * 1000))  # before 1970: from the start
        timeout_ms = int(REQUEST_TIMEOUT_S * 1000)
        try:
            # Ends first: a record appended between the two lookups is then read, not skipped.
            ends = self.consumer.end_offsets(tps, timeout_ms=timeout_ms)
            found = self.consumer.offsets_for_times({tp: ms for tp in tps}, timeout_ms=timeout_ms)
        except KafkaError as e:
            raise BackendError(f"kafka backend: {what} failed to find the offsets of "
                               f"{self.since.isoformat()}: {e!r}") from e
        for tp in tps:
            self.consumer.seek(tp, found[tp].offset if found.get(tp) else ends[tp])

    def commit(self) -> None:
        if not self._delivered:
            return
        # After a rebalance, partitions we lost belong to another member, which resumes from the
        # last commit; committing for them would fail the whole request, so they are dropped
        # (their records are redelivered there: at-least-once).
        assigned = self.consumer.assignment()
        offsets = {tp: om for tp, om in self._delivered.items() if tp in assigned}
        if offsets:
            try:
                self.consumer.commit(offsets=offsets)
            except KafkaError as e:
                raise BackendError(
                    f"kafka backend: commit for group {self.group!r} on topic {self.topic!r} "
                    f"failed: {e!r}") from e
        self._delivered.clear()

    def close(self) -> None:
        self.consumer.close(autocommit=False)


class KafkaReader(Reader):
    def __init__(self, consumer: Any, topic: str) -> None:
        self.consumer, self.topic = consumer, topic

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        batches = _poll(self.consumer, max_records, timeout, f"reading topic {self.topic!r}")
        return [_message(rec) for recs in batches.values() for rec in recs]

    def close(self) -> None:
        self.consumer.close(autocommit=False)
