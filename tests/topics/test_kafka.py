"""The Kafka backend: its exact configuration and error handling with fake clients, and real
round trips through a local single-node Kafka broker (the session's `kafka_broker` fixture:
Apache Kafka 4.x in KRaft mode, from the jars `make install` fetches).

With fakes (injected through the backend's factory parameters): the producer/consumer settings
(checked against the installed kafka-python's own list of accepted settings), `publish` waiting
for every delivery future and failing loudly, `commit` committing exactly the offsets after what
`poll` delivered, and the real clients failing fast with a clear error where no broker listens.

Against the real broker: publish then read everything; commit, then a new subscription of the
same group resumes exactly after the committed position; two members of one group share the
partitions; a broker restart while a producer publishes loses nothing; and a group that starts
at an instant reads exactly the records appended from then on. Every test uses
topics and groups of its own, so they cannot see each other's records.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaTimeoutError, NotLeaderForPartitionError
from kafka.structs import OffsetAndMetadata

from tests.conftest import eventually
from tradeflow.topics.base import BackendError, Record
from tradeflow.topics.kafka import (
    KafkaBackend,
    KafkaSubscription,
    _KafkaConsumer,
    consumer_config,
    producer_config,
)

TOPIC = "stock-prices"


# --- configuration ------------------------------------------------------------------------------

def test_producer_config():
    cfg = producer_config("k1:9092, k2:9092")
    assert cfg["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert cfg["acks"] == "all"
    assert cfg["enable_idempotence"] is True
    assert cfg["key_serializer"].serialize(TOPIC, [], "AAPL") == b"AAPL"
    assert cfg["key_serializer"].serialize(TOPIC, [], "BRK.B") == "BRK.B".encode()
    assert "value_serializer" not in cfg  # values are sent as the bytes they are
    assert cfg["linger_ms"] > 0
    # Bounded, so a missing broker is an error in seconds.
    assert cfg["bootstrap_timeout_ms"] <= 10_000
    assert cfg["max_block_ms"] <= 15_000
    assert cfg["request_timeout_ms"] <= 15_000
    assert cfg["delivery_timeout_ms"] >= cfg["request_timeout_ms"] + cfg["linger_ms"]
    # Every key is one this kafka-python accepts (it raises on unknown ones at construction).
    assert set(cfg) <= set(KafkaProducer.DEFAULT_CONFIG)


def test_consumer_config():
    cfg = consumer_config("k1:9092", "signals-consumer", "earliest")
    assert cfg["group_id"] == "signals-consumer"
    assert cfg["enable_auto_commit"] is False
    assert cfg["auto_offset_reset"] == "earliest"
    assert cfg["isolation_level"] == "read_committed"
    assert consumer_config("k1:9092", "g", "latest")["auto_offset_reset"] == "latest"
    # A start time has no reset policy: the subscription seeks such partitions itself.
    since = datetime.now(timezone.utc)
    assert consumer_config("k1:9092", "g", since)["auto_offset_reset"] == "none"
    assert cfg["key_deserializer"].deserialize(TOPIC, [], b"AAPL") == "AAPL"
    assert cfg["bootstrap_timeout_ms"] <= 10_000
    assert set(cfg) <= set(KafkaConsumer.DEFAULT_CONFIG)


def test_empty_bootstrap_servers_is_refused():
    with pytest.raises(BackendError, match="BOOTSTRAP_SERVERS is empty"):
        KafkaBackend(" , ")


# --- publish, with a fake producer ---------------------------------------------------------------

class FakeFuture:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.waited = False

    def get(self, timeout: float | None = None) -> object:
        self.waited = True
        if self.error is not None:
            raise self.error
        return object()


class FakeProducer:
    def __init__(self, fail: dict[int, Exception] | None = None,
                 send_error: Exception | None = None, **config: Any) -> None:
        self.config = config
        self.fail = fail or {}
        self.send_error = send_error
        self.sent: list[tuple[str, Any, bytes]] = []
        self.futures: list[FakeFuture] = []
        self.flushed = self.closed = 0

    def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def send(self, topic: str, value: bytes | None = None, key: Any = None,
             partition: int | None = None) -> FakeFuture:
        if self.send_error is not None:
            raise self.send_error
        # Serialize as the real producer would, with the configured serializer.
        self.sent.append((topic, self.config["key_serializer"].serialize(topic, [], key), value))
        f = FakeFuture(self.fail.get(len(self.sent) - 1))
        self.futures.append(f)
        return f

    def flush(self, timeout: float | None = None) -> None:
        self.flushed += 1

    def close(self, timeout: float | None = None) -> None:
        self.closed += 1


def backend_with(producer_kwargs: dict[str, Any] | None = None) -> tuple[KafkaBackend, list]:
    made: list[FakeProducer] = []

    def factory(**config: Any) -> FakeProducer:
        p = FakeProducer(**(producer_kwargs or {}), **config)
        made.append(p)
        return p

    return KafkaBackend("k1:9092", producer_factory=factory), made


def test_publish_sends_symbol_keys_and_raw_values_and_waits_for_every_future():
    backend, made = backend_with()
    recs = [Record("AAPL", b'{"p":1}'), Record("MSFT", b'{"p":2}'), Record("AAPL", b'{"p":3}')]
    assert backend.publish(TOPIC, recs) == 3
    (producer,) = made
    assert producer.sent == [(TOPIC, b"AAPL", b'{"p":1}'), (TOPIC, b"MSFT", b'{"p":2}'),
                             (TOPIC, b"AAPL", b'{"p":3}')]
    assert all(f.waited for f in producer.futures)
    # The producer is built through the seam with the real configuration.
    assert producer.config["acks"] == "all" and producer.config["enable_idempotence"] is True
    assert producer.config["bootstrap_servers"] == ["k1:9092"]
    backend.publish(TOPIC, [Record("SPY", b"{}")])
    assert len(made) == 1  # created once, lazily
    assert backend.publish(TOPIC, []) == 0


def test_publish_raises_when_a_future_fails_after_waiting_for_all():
    backend, made = backend_with({"fail": {1: NotLeaderForPartitionError("leader moved")}})
    with pytest.raises(BackendError) as e:
        backend.publish(TOPIC, [Record("AAPL", b"1"), Record("MSFT", b"2"), Record("GOOG", b"3")])
    msg = str(e.value)
    assert "1 of 3 records" in msg and repr(TOPIC) in msg and "NotLeaderForPartition" in msg
    assert all(f.waited for f in made[0].futures)


def test_a_failed_publish_closes_its_producer_and_the_next_publish_starts_a_new_one():
    made: list[FakeProducer] = []

    def factory(**config: Any) -> FakeProducer:  # only the first producer fails
        made.append(FakeProducer(fail={} if made else {0: KafkaTimeoutError("expired")}, **config))
        return made[-1]

    backend = KafkaBackend("k1:9092", producer_factory=factory)
    with pytest.raises(BackendError):
        backend.publish(TOPIC, [Record("AAPL", b"1")])
    assert made[0].closed == 1
    assert backend.publish(TOPIC, [Record("AAPL", b"1")]) == 1
    assert backend.publish(TOPIC, [Record("MSFT", b"2")]) == 1
    assert len(made) == 2 and made[1].closed == 0  # a producer that works is kept


def test_a_failed_broadcast_also_starts_a_new_producer():
    backend, made = backend_with({"fail": {1: KafkaTimeoutError("expired")}})
    with pytest.raises(BackendError, match="every partition"):
        backend.broadcast(TOPIC, b"{}")
    assert made[0].closed == 1
    with pytest.raises(BackendError):  # the new one fails its second record as well
        backend.broadcast(TOPIC, b"{}")
    assert len(made) == 2


def test_publish_raises_when_send_itself_fails():
    backend, _ = backend_with({"send_error": KafkaTimeoutError("metadata not available")})
    with pytest.raises(BackendError, match=r"2 of 2 records to topic 'stock-prices'.*metadata"):
        backend.publish(TOPIC, [Record("AAPL", b"1"), Record("MSFT", b"2")])


def test_flush_and_close_reach_the_producer():
    backend, made = backend_with()
    backend.flush()  # nothing created yet: nothing to do
    backend.publish(TOPIC, [Record("AAPL", b"1")])
    backend.flush()
    backend.close()
    assert made[0].flushed == 2 and made[0].closed == 1


def test_producer_that_cannot_bootstrap_is_a_backend_error():
    def factory(**config: Any) -> FakeProducer:
        raise KafkaTimeoutError("Unable to bootstrap from k1:9092")

    backend = KafkaBackend("k1:9092", producer_factory=factory)
    with pytest.raises(BackendError, match="no broker reachable at k1:9092"):
        backend.publish(TOPIC, [Record("AAPL", b"1")])


# --- subscriptions, with a fake consumer ------------------------------------------------------

def rec(partition: int, offset: int, key: str, value: bytes, epoch: int = 3) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, partition, epoch, offset, 0, 0, key, value, [], None,
                          len(key), len(value), -1)


class FakeConsumer:
    def __init__(self, topic: str, **config: Any) -> None:
        self.topic, self.config = topic, config
        self.batches: list[dict] = []
        self.assigned = {TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)}
        self.commits: list[dict] = []
        self.commit_error: Exception | None = None
        self.closed_with: dict | None = None
        self.polls: list[tuple[int, int]] = []
        self.metadata_asked: list[str] = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        self.polls.append((timeout_ms, max_records))
        return self.batches.pop(0) if self.batches else {}

    def assignment(self) -> set:
        return set(self.assigned)

    def partitions_for_topic(self, topic: str) -> set:
        self.metadata_asked.append(topic)
        return {0, 1, 2}

    def commit(self, offsets: dict | None = None) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append(offsets)

    def close(self, autocommit: bool = True) -> None:
        self.closed_with = {"autocommit": autocommit}


def subscribed(start: str = "earliest") -> tuple[KafkaSubscription, FakeConsumer]:
    made: list[FakeConsumer] = []

    def factory(topic: str, **config: Any) -> FakeConsumer:
        made.append(FakeConsumer(topic, **config))
        return made[-1]

    sub = KafkaBackend("k1:9092", consumer_factory=factory).subscribe(TOPIC, "grp", start)
    return sub, made[0]


def test_subscribe_builds_the_consumer_from_the_real_config():
    sub, consumer = subscribed("latest")
    assert consumer.topic == TOPIC
    assert consumer.config["group_id"] == "grp"
    assert consumer.config["enable_auto_commit"] is False
    assert consumer.config["auto_offset_reset"] == "latest"
    assert (sub.topic, sub.group) == (TOPIC, "grp")
    # the topic's metadata is fetched before the first poll joins the group (see subscribe)
    assert consumer.metadata_asked == [TOPIC] and consumer.polls == []


def test_poll_maps_records_to_messages():
    sub, consumer = subscribed()
    tp0 = TopicPartition(TOPIC, 0)
    consumer.batches.append({tp0: [rec(0, 5, "AAPL", b"a"), rec(0, 6, "MSFT", b"b")]})
    msgs = sub.poll(max_records=100, timeout=0.25)
    assert consumer.polls == [(250, 100)]
    assert [(m.topic, m.key, m.value, m.position) for m in msgs] == [
        (TOPIC, "AAPL", b"a", (0, 5)), (TOPIC, "MSFT", b"b", (0, 6))]
    assert sub.poll() == []


def test_commit_commits_the_offset_after_the_last_delivered_record_per_partition():
    sub, consumer = subscribed()
    tp0, tp1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    consumer.batches.append({tp0: [rec(0, 5, "AAPL", b"a"), rec(0, 6, "AAPL", b"b")],
                             tp1: [rec(1, 40, "MSFT", b"c", epoch=7)]})
    consumer.batches.append({tp0: [rec(0, 7, "AAPL", b"d")]})
    sub.poll()
    sub.poll()
    sub.commit()
    assert consumer.commits == [{tp0: OffsetAndMetadata(8, "", 3),
                                 tp1: OffsetAndMetadata(41, "", 7)}]
    sub.commit()  # nothing new delivered: no request
    assert len(consumer.commits) == 1


def test_commit_skips_partitions_lost_in_a_rebalance():
    sub, consumer = subscribed()
    tp0, tp1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    consumer.batches.append({tp0: [rec(0, 1, "AAPL", b"a")], tp1: [rec(1, 2, "MSFT", b"b")]})
    sub.poll()
    consumer.assigned = {tp1}
    sub.commit()
    assert consumer.commits == [{tp1: OffsetAndMetadata(3, "", 3)}]


def test_commit_failure_is_a_backend_error_and_close_does_not_commit():
    sub, consumer = subscribed()
    consumer.batches.append({TopicPartition(TOPIC, 0): [rec(0, 1, "AAPL", b"a")]})
    sub.poll()
    consumer.commit_error = CommitFailedError("group rebalanced")
    with pytest.raises(BackendError, match="commit for group 'grp'"):
        sub.commit()
    sub.close()
    assert consumer.closed_with == {"autocommit": False}


# --- the real kafka-python clients, no broker ----------------------------------------------------

@pytest.fixture
def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"  # nothing listens there once the socket is closed


def counting(factory):
    """`factory`, recording the config of every client made through it."""
    made: list[dict] = []

    def make(*args, **config):
        made.append(config)
        return factory(*args, **config)

    return make, made


# How fast these fail is set by the bounds test_producer_config/test_consumer_config check; here:
# one bounded attempt, then a clear error and nothing left behind.
@pytest.mark.integration
def test_real_producer_without_broker_fails_fast_naming_the_servers(closed_port):
    factory, made = counting(KafkaProducer)
    backend = KafkaBackend(closed_port, producer_factory=factory)
    with pytest.raises(BackendError) as e:
        backend.publish(TOPIC, [Record("AAPL", b"{}")])
    assert len(made) == 1 and made[0]["bootstrap_timeout_ms"] <= 10_000  # no retry loop around it
    assert closed_port in str(e.value)
    assert "needs a running Kafka or Redpanda broker" in str(e.value)
    assert e.value.__cause__ is None  # a message, not a chained stack trace
    backend.close()


@pytest.mark.integration
def test_real_consumer_without_broker_fails_fast_naming_the_servers(closed_port):
    factory, made = counting(_KafkaConsumer)
    backend = KafkaBackend(closed_port, consumer_factory=factory)
    with pytest.raises(BackendError, match=f"no broker reachable at {closed_port}") as e:
        backend.subscribe(TOPIC, "grp")
    assert len(made) == 1 and made[0]["bootstrap_timeout_ms"] <= 10_000
    assert e.value.__cause__ is None
    # kafka-python 3.0.12 would leave its network thread running after a failed bootstrap.
    eventually(lambda: not [t for t in threading.enumerate()
                            if t.name == "kafka-io-tradeflow-grp"],
               "the consumer's network thread stopped", timeout=30, every=0.05)


# --- a real broker ------------------------------------------------------------------------------

def new_topic(servers: str, partitions: int = 3) -> str:
    """A topic of the calling test's own (the fixture's broker is shared by the session)."""
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"t-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=servers, client_id="test-admin")
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
        # Every partition led before anyone subscribes: a group whose leader assigns before the
        # topic's metadata has spread rebalances again when it arrives (slow on a loaded machine).
        eventually(lambda: sum(p["leader_id"] >= 0 for t in admin.describe_topics([name])
                               for p in t["partitions"]) == partitions,
                   f"the {partitions} partitions of {name} led")
    finally:
        admin.close()
    return name


def numbered(start: int, n: int) -> list[Record]:
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "SPY", "QQQ", "NVDA"]
    return [Record(symbols[i % len(symbols)], json.dumps({"i": i}).encode())
            for i in range(start, start + n)]


def ids_of(msgs) -> list[int]:
    return [json.loads(m.value)["i"] for m in msgs]


def read_n(sub, n: int, timeout: float = 60.0, max_records: int = 500) -> list:
    """Poll until at least `n` messages arrived (a consumer's first poll also joins the group,
    which takes a while)."""
    out: list = []

    def enough() -> bool:
        out.extend(sub.poll(max_records=min(max_records, n - len(out)), timeout=0.5))
        return len(out) >= n

    eventually(enough, f"{n} records read", timeout, every=0)
    return out


def assigned(sub, partitions: int = 3) -> None:
    """Poll `sub`, which has nothing to read yet, until the group has given it every partition."""
    def check() -> bool:
        assert sub.poll(timeout=0.2) == []
        return len(sub.consumer.assignment()) == partitions

    eventually(check, f"all {partitions} partitions assigned", every=0)


def nothing_more(*subs, seconds: float = 1.5) -> list:
    """What the subscriptions still deliver within `seconds` (expected: nothing)."""
    extra: list = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sub in subs:
            extra += sub.poll(timeout=0.2)
    return extra


@pytest.fixture
def kafka(kafka_broker) -> Iterator[KafkaBackend]:
    backend = KafkaBackend(kafka_broker.bootstrap_servers)
    yield backend
    backend.close()


@pytest.mark.integration
def test_real_publish_then_subscribe_reads_everything_with_keys(kafka, kafka_broker):
    topic = new_topic(kafka_broker.bootstrap_servers)
    sent = numbered(0, 300)
    assert kafka.publish(topic, sent) == 300
    with kafka.subscribe(topic, "g-all") as sub:
        got = read_n(sub, 300)
        assert nothing_more(sub) == []
    assert sorted(ids_of(got)) == list(range(300))
    by_id = {json.loads(r.value)["i"]: r for r in sent}
    for m in got:
        assert m.topic == topic
        assert (m.key, m.value) == (by_id[json.loads(m.value)["i"]].key, m.value)
    # One symbol, one partition: per-key order is the publish order.
    per_key: dict[str, list[int]] = {}
    for m in got:
        per_key.setdefault(m.key, []).append(json.loads(m.value)["i"])
    assert all(v == sorted(v) for v in per_key.values())
    assert len({m.position[0] for m in got}) > 1  # spread over the partitions


@pytest.mark.integration
def test_real_commit_then_new_subscription_resumes_exactly_after_it(kafka, kafka_broker):
    topic = new_topic(kafka_broker.bootstrap_servers)
    kafka.publish(topic, numbered(0, 40))
    with kafka.subscribe(topic, "g-resume") as sub:
        first = read_n(sub, 25, max_records=25)
        assert len(first) == 25
        sub.commit()
        # Delivered but never committed: a restart gets these again (at-least-once).
        uncommitted = read_n(sub, 5, max_records=5)
    kafka.publish(topic, numbered(40, 10))  # while no member runs
    with kafka.subscribe(topic, "g-resume") as sub:
        rest = read_n(sub, 25)
        assert nothing_more(sub) == []
        sub.commit()
    assert len(rest) == 25
    assert sorted(ids_of(first) + ids_of(rest)) == list(range(50))  # no loss, no duplicate
    assert set(ids_of(uncommitted)) <= set(ids_of(rest))
    # Committed at the end: a third subscription of the group has nothing left to read.
    with kafka.subscribe(topic, "g-resume") as sub:
        assert nothing_more(sub, seconds=3) == []
    # Another group is independent and starts from the beginning.
    with kafka.subscribe(topic, "g-other") as sub:
        assert sorted(ids_of(read_n(sub, 50))) == list(range(50))


@pytest.mark.integration
def test_real_latest_subscription_skips_what_came_before(kafka, kafka_broker):
    topic = new_topic(kafka_broker.bootstrap_servers)
    kafka.publish(topic, numbered(0, 10))
    with kafka.subscribe(topic, "g-latest", start="latest") as sub:
        # The group's starting offsets are fixed once it has its partitions.
        assigned(sub)
        for tp in sub.consumer.assignment():
            sub.consumer.position(tp)
        kafka.publish(topic, numbered(10, 5))
        assert sorted(ids_of(read_n(sub, 5))) == list(range(10, 15))


@pytest.mark.integration
def test_real_two_members_of_one_group_share_the_partitions(kafka, kafka_broker):
    topic = new_topic(kafka_broker.bootstrap_servers, partitions=3)
    a = kafka.subscribe(topic, "g-shared")
    b = kafka.subscribe(topic, "g-shared")
    try:
        # Both join; polling both keeps each taking part in the rebalances until they split the
        # three partitions between them.
        def split() -> tuple | None:
            assert a.poll(timeout=0.2) == [] and b.poll(timeout=0.2) == []
            pa, pb = a.consumer.assignment(), b.consumer.assignment()
            return (pa, pb) if pa and pb and not pa & pb and len(pa | pb) == 3 else None

        pa, pb = eventually(split, "a stable split of the partitions", every=0)
        kafka.publish(topic, numbered(0, 300))
        got_a: list = []
        got_b: list = []

        def all_read() -> bool:
            got_a.extend(a.poll(timeout=0.2))
            got_b.extend(b.poll(timeout=0.2))
            a.commit()
            b.commit()
            return len(got_a) + len(got_b) >= 300

        eventually(all_read, "300 records read by the two members", every=0)
        assert nothing_more(a, b) == []
    finally:
        a.close()
        b.close()
    assert got_a and got_b
    assert sorted(ids_of(got_a) + ids_of(got_b)) == list(range(300))  # each exactly once
    # Each read only its own partitions.
    assert {m.position[0] for m in got_a} <= {tp.partition for tp in pa}
    assert {m.position[0] for m in got_b} <= {tp.partition for tp in pb}


@pytest.mark.integration
def test_real_broker_restart_while_publishing_loses_no_record(kafka, kafka_broker):
    """The broker is stopped and started again while a producer thread publishes batches.

    Every batch the producer saw `publish` return for must be there exactly once. A batch whose
    `publish` raised during the outage is published again by the producer, as a caller does:
    part of it may then be stored twice, which at-least-once delivery allows for that batch only.
    The broker is only started again once the producer is seen in the middle of a publish while
    the broker is down, so the outage is sure to hit a publish.
    """
    topic = new_topic(kafka_broker.bootstrap_servers)
    state = {"batches": 0, "retried": set(), "errors": [], "publishing": False}
    stop = threading.Event()
    batch_size = 20

    def produce() -> None:
        i = 0
        while not stop.is_set():
            batch = numbered(i, batch_size)
            while True:
                state["publishing"] = True
                try:
                    kafka.publish(topic, batch)
                    break
                except BackendError as e:
                    state["errors"].append(str(e))
                    state["retried"].update(range(i, i + batch_size))
                    if stop.is_set() and len(state["errors"]) > 100:
                        return
                finally:
                    state["publishing"] = False
            i += batch_size
            state["batches"] += 1
            time.sleep(0.01)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()

    def wait_batches(n: int) -> None:
        target = state["batches"] + n

        def done() -> bool:
            assert producer.is_alive()
            return state["batches"] >= target

        try:
            eventually(done, f"{n} more batches published", every=0.05)
        except AssertionError as e:
            raise AssertionError(f"{e}; {len(state['errors'])} publishes failed, the last with "
                                 f"{state['errors'][-1:]}") from None

    wait_batches(10)
    try:
        assert kafka_broker.stop() is not None
        before_start = state["batches"]
        eventually(lambda: state["publishing"], "a publish while the broker is down",
                   every=0.001)
    finally:  # the broker serves the rest of the session
        kafka_broker.start()
    try:
        wait_batches(10)  # it publishes again once the broker is back
    except AssertionError as e:  # say whether the broker itself stayed up
        log = kafka_broker.log_file.read_text(errors="replace").splitlines()[-15:]
        raise AssertionError(f"{e}; broker pid {kafka_broker.pid()}, its log ends:\n"
                             + "\n".join(log)) from None
    stop.set()
    producer.join(timeout=90)
    assert not producer.is_alive()
    published = state["batches"] * batch_size
    assert before_start > 0

    with kafka.subscribe(topic, "g-restart") as sub:
        got = ids_of(read_n(sub, published))
        got += ids_of(nothing_more(sub))
    counts: dict[int, int] = {}
    for i in got:
        counts[i] = counts.get(i, 0) + 1
    assert set(counts) == set(range(published)), "records were lost"
    twice = {i for i, c in counts.items() if c > 1}
    assert twice <= state["retried"], f"duplicates outside a retried batch: {sorted(twice)[:10]}"


def boundary() -> datetime:
    """An instant after the timestamps (ms) of every record sent so far and not after those of
    any record sent from now on: producers stamp records with this machine's clock."""
    time.sleep(0.005)
    instant = datetime.now(timezone.utc)
    time.sleep(0.005)
    return instant


@pytest.mark.integration
def test_real_start_time_reads_exactly_what_was_appended_from_then_on(kafka, kafka_broker):
    topic = new_topic(kafka_broker.bootstrap_servers)
    kafka.publish(topic, numbered(0, 30))
    instant = boundary()
    # No record is that recent yet: this group starts at each partition's end...
    with kafka.subscribe(topic, "g-since-early", start=instant) as early:
        assigned(early)  # joining the group takes a few polls
        assert nothing_more(early) == []
        kafka.publish(topic, numbered(30, 12))
        # ...and reads what comes next.
        assert sorted(ids_of(read_n(early, 12))) == list(range(30, 42))
        assert nothing_more(early) == []
    # A group that starts later, at the same instant, finds exactly those by their timestamps.
    with kafka.subscribe(topic, "g-since-late", start=instant) as late:
        assert sorted(ids_of(read_n(late, 12))) == list(range(30, 42))
        assert nothing_more(late) == []
        late.commit()
    # Its committed position wins over the start time, as it does over "earliest".
    kafka.publish(topic, numbered(42, 3))
    with kafka.subscribe(topic, "g-since-late", start=instant) as again:
        assert sorted(ids_of(read_n(again, 3))) == [42, 43, 44]
        assert nothing_more(again) == []


def test_a_naive_start_time_is_refused_before_any_connection():
    with pytest.raises(BackendError, match=r"^kafka backend: start time .* has no time zone"):
        KafkaBackend("127.0.0.1:1").subscribe(TOPIC, "g", start=datetime(2026, 1, 2))
