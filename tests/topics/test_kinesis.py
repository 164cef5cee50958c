"""The Kinesis backend against moto (in-process, and once as a real local HTTP server).

moto's resharding is not AWS's (a split re-puts the parent's records, a merge copies them into
the child, and writes keep going to a closed parent whose hash range still matches), so the
ordering and no-duplicate guarantees across a reshard are checked against a small in-memory
stand-in that behaves like Kinesis (parents keep their records, sequence numbers only grow, a
finished shard's GetRecords returns no NextShardIterator); moto only shows that a reader notices a
shard closing and hands over to its children.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tradeflow.topics import kinesis as kinesis_mod
from tradeflow.topics.base import BackendError, Message, Record, Subscription
from tradeflow.topics.kinesis import KinesisBackend
from tradeflow.topics.positions import PositionStore

from tests.conftest import FakeClock, eventually

REGION = "us-east-1"
PREFIX = "test-"
TOPIC = "stock-prices"
STREAM = PREFIX + TOPIC
SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "SPY"]


def create_stream(client: Any, name: str, shards: int = 1) -> None:
    client.create_stream(StreamName=name, ShardCount=shards)
    client.get_waiter("stream_exists").wait(StreamName=name,
                                            WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


def drain(sub: Subscription, expected: int, timeout: float = 10.0,
          max_records: int = 500) -> list[Message]:
    """Poll until `expected` messages arrived, then once more to catch extras."""
    out: list[Message] = []
    eventually(lambda: out.extend(sub.poll(max_records=max_records, timeout=0.2))
               or len(out) >= expected, f"{expected} messages", timeout, every=0)
    out.extend(sub.poll(max_records=max_records, timeout=0.3))
    return out


def records(n: int, start: int = 0) -> list[Record]:
    out = []
    for i in range(start, start + n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        out.append(Record(sym, json.dumps({"symbol": sym, "i": i}).encode()))
    return out


def ids(msgs: list[Message]) -> list[int]:
    return [json.loads(m.value)["i"] for m in msgs]


def make_backend(tmp_path, client: Any = None, **kw: Any) -> KinesisBackend:
    opts: dict[str, Any] = dict(retry_base_delay=0.0, idle_poll_seconds=0.02,
                                shard_refresh_seconds=0.05)
    opts.update(kw)
    return KinesisBackend(region=REGION, stream_prefix=PREFIX, client=client,
                          positions=PositionStore(tmp_path / "positions"), **opts)


@pytest.fixture
def backend(kinesis_client, tmp_path) -> KinesisBackend:
    create_stream(kinesis_client, STREAM, shards=3)
    return make_backend(tmp_path)


class PutRecordsSpy:
    """Wraps the real put_records: records every call, and can fail chosen entries of the first
    call (those entries are then not sent to the stream at all, as when Kinesis rejects them)."""

    def __init__(self, real: Any, fail_first: set[int] = frozenset(),
                 code: str = "ProvisionedThroughputExceededException", always: bool = False):
        self.real, self.fail_first, self.code, self.always = real, fail_first, code, always
        self.calls: list[list[dict[str, Any]]] = []

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        entries = kwargs["Records"]
        self.calls.append(list(entries))
        failing = set(range(len(entries))) if self.always else (
            self.fail_first if len(self.calls) == 1 else set())
        if not failing:
            return self.real(**kwargs)
        passing = [e for i, e in enumerate(entries) if i not in failing]
        ok = iter(self.real(**{**kwargs, "Records": passing})["Records"] if passing else [])
        results = [{"ErrorCode": self.code, "ErrorMessage": "injected"} if i in failing
                   else next(ok) for i in range(len(entries))]
        return {"FailedRecordCount": len(failing), "Records": results}


# --- moto, in process -------------------------------------------------------------------------

def test_round_trip_keeps_values_keys_and_per_key_order(backend):
    recs = records(60)
    assert backend.publish(TOPIC, recs) == 60
    with backend.subscribe(TOPIC, "g1") as sub:
        got = drain(sub, 60)
    assert sorted((m.key, m.value) for m in got) == sorted((r.key, r.value) for r in recs)
    assert all(m.topic == TOPIC for m in got)
    shard_ids = {s["ShardId"] for s in backend.client.list_shards(StreamName=STREAM)["Shards"]}
    assert all(m.position[0] in shard_ids and m.position[1].isdigit() for m in got)
    per_key = defaultdict(list)
    for m in got:
        per_key[m.key].append(json.loads(m.value)["i"])
    assert all(seq == sorted(seq) for seq in per_key.values())


def test_partial_failure_resends_only_failed_entries(backend, monkeypatch):
    spy = PutRecordsSpy(backend.client.put_records, fail_first={1, 4, 7})
    monkeypatch.setattr(backend.client, "put_records", spy)
    recs = records(10)
    assert backend.publish(TOPIC, recs) == 10
    assert len(spy.calls) == 2
    assert [e["Data"] for e in spy.calls[1]] == [recs[i].value for i in (1, 4, 7)]
    assert [e["PartitionKey"] for e in spy.calls[1]] == [recs[i].key for i in (1, 4, 7)]
    with backend.subscribe(TOPIC, "g") as sub:
        got = drain(sub, 10)
    assert sorted(ids(got)) == list(range(10))  # each exactly once


def test_failures_that_persist_raise_with_count_after_capped_attempts(backend, monkeypatch):
    spy = PutRecordsSpy(backend.client.put_records, always=True)
    monkeypatch.setattr(backend.client, "put_records", spy)
    with pytest.raises(BackendError, match=r"10 of 10 records .*test-stock-prices.* not stored"):
        backend.publish(TOPIC, records(10))
    assert len(spy.calls) == backend.max_attempts


def test_non_retryable_entry_error_is_not_retried(backend, monkeypatch):
    spy = PutRecordsSpy(backend.client.put_records, fail_first={0}, code="KMSAccessDeniedException")
    monkeypatch.setattr(backend.client, "put_records", spy)
    with pytest.raises(BackendError, match="1 of 3 records.*KMSAccessDeniedException"):
        backend.publish(TOPIC, records(3))
    assert len(spy.calls) == 1


def test_batches_of_at_most_500_records(backend, monkeypatch):
    spy = PutRecordsSpy(backend.client.put_records)
    monkeypatch.setattr(backend.client, "put_records", spy)
    assert backend.publish(TOPIC, records(1234)) == 1234
    assert [len(c) for c in spy.calls] == [500, 500, 234]
    with backend.subscribe(TOPIC, "g") as sub:
        got = drain(sub, 1234)
    assert sorted(ids(got)) == list(range(1234))


def test_batches_of_at_most_5_mib(backend, monkeypatch):
    spy = PutRecordsSpy(backend.client.put_records)
    monkeypatch.setattr(backend.client, "put_records", spy)
    big = [Record("AAPL", b"x" * (600 * 1024)) for _ in range(20)]
    assert backend.publish(TOPIC, big) == 20
    sizes = [sum(len(e["Data"]) + len(e["PartitionKey"]) for e in c) for c in spy.calls]
    assert [len(c) for c in spy.calls] == [8, 8, 4]
    assert max(sizes) <= 5 * 1024 * 1024


def test_oversized_record_is_refused_before_anything_is_sent(backend, monkeypatch):
    spy = PutRecordsSpy(backend.client.put_records)
    monkeypatch.setattr(backend.client, "put_records", spy)
    with pytest.raises(BackendError, match="over 1 MiB"):
        backend.publish(TOPIC, [Record("AAPL", b"{}"), Record("AAPL", b"x" * (1024 * 1024))])
    assert spy.calls == []


def test_commit_then_new_subscription_resumes_without_loss_or_duplicates(backend):
    backend.publish(TOPIC, records(30))
    sub1 = backend.subscribe(TOPIC, "g")
    first: list[Message] = []
    while len(first) < 10:
        first.extend(sub1.poll(max_records=10 - len(first), timeout=0.5))
    sub1.commit()
    uncommitted = drain(sub1, 5, max_records=5)  # delivered but never committed
    assert uncommitted
    sub1.close()

    with backend.subscribe(TOPIC, "g") as sub2:
        rest = drain(sub2, 20)
        assert sorted(ids(first) + ids(rest)) == list(range(30))
        sub2.commit()
    backend.publish(TOPIC, records(5, start=30))
    with backend.subscribe(TOPIC, "g") as sub3:
        assert sorted(ids(drain(sub3, 5))) == list(range(30, 35))
    with backend.subscribe(TOPIC, "other-group") as sub4:  # groups are independent
        assert sorted(ids(drain(sub4, 35))) == list(range(35))


def test_latest_skips_history(backend):
    backend.publish(TOPIC, records(10))
    with backend.subscribe(TOPIC, "live", start="latest") as sub:
        assert sub.poll(timeout=0.3) == []
        backend.publish(TOPIC, records(5, start=10))
        assert sorted(ids(drain(sub, 5))) == list(range(10, 15))


def test_latest_subscription_committed_before_any_delivery_loses_nothing(backend, monkeypatch):
    # Exact check: no clock margin (moto and the test share one clock).
    monkeypatch.setattr(kinesis_mod, "LATEST_CLOCK_MARGIN_S", 0.0)
    backend.publish(TOPIC, records(10))
    time.sleep(0.05)
    with backend.subscribe(TOPIC, "live", start="latest") as sub:
        sub.commit()
    backend.publish(TOPIC, records(3, start=10))  # while the group is down
    with backend.subscribe(TOPIC, "live", start="latest") as sub:
        assert sorted(ids(drain(sub, 3))) == [10, 11, 12]


def test_earliest_is_the_default_and_saved_position_wins_over_start(backend):
    backend.publish(TOPIC, records(4))
    with backend.subscribe(TOPIC, "g") as sub:
        assert len(drain(sub, 4)) == 4
        sub.commit()
    backend.publish(TOPIC, records(2, start=4))
    with backend.subscribe(TOPIC, "g", start="latest") as sub:  # saved position is used
        assert sorted(ids(drain(sub, 2))) == [4, 5]


def boundary() -> datetime:
    """An instant after the arrival time of everything put so far and before that of anything
    put from now on (moto stamps arrivals with this process's clock)."""
    time.sleep(0.005)
    instant = datetime.now(timezone.utc)
    time.sleep(0.005)
    return instant


def test_start_time_reads_exactly_what_arrived_from_then_on(backend):
    backend.publish(TOPIC, records(20))
    instant = boundary()
    backend.publish(TOPIC, records(10, start=20))
    with backend.subscribe(TOPIC, "since", start=instant) as sub:
        got = drain(sub, 10)
        assert sorted(ids(got)) == list(range(20, 30))
        sub.commit()
        backend.publish(TOPIC, records(3, start=30))
        assert sorted(ids(drain(sub, 3))) == [30, 31, 32]
    # A restart resumes at what was committed (30-32 were delivered, not committed), not at the
    # instant; a shard that had delivered nothing resumes at the instant.
    with backend.subscribe(TOPIC, "since", start=instant) as sub:
        assert sorted(ids(drain(sub, 3))) == [30, 31, 32]
    with backend.subscribe(TOPIC, "future", start=boundary()) as sub:
        assert sub.poll(timeout=0.3) == []
        backend.publish(TOPIC, records(2, start=33))
        assert sorted(ids(drain(sub, 2))) == [33, 34]


def test_a_naive_start_time_is_refused_in_one_line(backend):
    with pytest.raises(BackendError, match=r"^kinesis backend: start time .* has no time zone"):
        backend.subscribe(TOPIC, "g", start=datetime(2026, 1, 2))


def test_missing_stream_is_a_clear_error(kinesis_client, tmp_path):
    backend = make_backend(tmp_path)
    with pytest.raises(BackendError, match=r"stream 'test-nope' does not exist"):
        backend.publish("nope", records(1))
    with pytest.raises(BackendError, match=r"stream 'test-nope' does not exist"):
        backend.subscribe("nope", "g")


def test_poll_respects_timeout_and_does_not_spin(tmp_path):
    clock = FakeClock()
    fake = FakeKinesis(shards=3)
    calls = []
    real = fake.get_records
    fake.get_records = lambda **kw: calls.append(kw["ShardIterator"]) or real(**kw)
    backend = make_backend(tmp_path, client=fake, idle_poll_seconds=0.25,
                           shard_refresh_seconds=60, monotonic=clock.monotonic, sleep=clock.sleep)
    with backend.subscribe(TOPIC, "g") as sub:
        assert sub.poll(timeout=1.0) == []
    # It waited out exactly its timeout, resting between rounds rather than spinning...
    assert clock.waited == pytest.approx(1.0)
    assert all(s > 0 for s in clock.sleeps)
    # ...and asked each empty shard at most once per idle_poll_seconds: at 0, 0.25, 0.5, 0.75
    # and 1.0 (the last round at the deadline).
    per_shard = defaultdict(int)
    for it in calls:
        per_shard[it.split("|")[0]] += 1
    assert per_shard == {sid: 5 for sid in fake.shards}


def test_poll_returns_as_soon_as_records_arrive_without_waiting_out_the_timeout(tmp_path):
    clock = FakeClock()
    fake = FakeKinesis(shards=1)
    backend = make_backend(tmp_path, client=fake, idle_poll_seconds=0.25,
                           shard_refresh_seconds=60, monotonic=clock.monotonic, sleep=clock.sleep)
    sub = backend.subscribe(TOPIC, "g")
    real_sleep = clock.sleep

    def sleep_then_put(seconds: float) -> None:  # a record arrives during the first rest
        real_sleep(seconds)
        if len(clock.sleeps) == 1:
            put_round(fake, 0)

    backend._sleep = sleep_then_put
    assert ids(sub.poll(timeout=10.0)) == [0]
    assert clock.waited == pytest.approx(0.25)  # one idle rest, not the 10 s timeout


def test_split_shard_while_reading_moves_on_to_the_children(kinesis_client, tmp_path):
    create_stream(kinesis_client, STREAM, shards=1)
    backend = make_backend(tmp_path)
    backend.publish(TOPIC, records(10))
    with backend.subscribe(TOPIC, "g") as sub:
        assert sorted(ids(drain(sub, 10))) == list(range(10))
        parent = kinesis_client.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
        kinesis_client.split_shard(StreamName=STREAM, ShardToSplit=parent,
                                   NewStartingHashKey=str(2**127))
        # moto keeps routing writes to the closed parent (its hash range still matches first).
        backend.publish(TOPIC, records(10, start=10))
        assert sorted(ids(drain(sub, 10))) == list(range(10, 20))
        sub.commit()
    children = {s["ShardId"] for s in kinesis_client.list_shards(StreamName=STREAM)["Shards"]
                if s.get("ParentShardId") == parent}
    assert len(children) == 2
    # The closed parent was read to its end and handed over: only the children are saved.
    assert backend.positions.load("g", TOPIC) == {c: "TRIM_HORIZON" for c in children}


# --- a Kinesis stand-in with real resharding semantics ----------------------------------------

class FakeKinesis:
    """Shards keep their records after closing; GetRecords on a finished closed shard returns
    no NextShardIterator; sequence numbers are global and increasing, as on AWS."""

    def __init__(self, shards: int) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self.seq = 0
        for _ in range(shards):
            self._new_shard(())

    def _new_shard(self, parents: tuple[str, ...]) -> str:
        sid = f"shardId-{len(self.shards):012d}"
        self.shards[sid] = {"parents": parents, "records": [], "closed": False}
        return sid

    def open_shards(self) -> list[str]:
        return [s for s, v in self.shards.items() if not v["closed"]]

    def put(self, shard_id: str, key: str, data: bytes) -> None:
        assert not self.shards[shard_id]["closed"]
        self.seq += 1
        self.shards[shard_id]["records"].append(
            {"SequenceNumber": str(10**20 + self.seq), "PartitionKey": key, "Data": data})

    def split(self, sid: str) -> tuple[str, str]:
        self.shards[sid]["closed"] = True
        return self._new_shard((sid,)), self._new_shard((sid,))

    def merge(self, a: str, b: str) -> str:
        self.shards[a]["closed"] = self.shards[b]["closed"] = True
        return self._new_shard((a, b))

    # The boto3 calls the backend makes.
    def list_shards(self, **kw: Any) -> dict[str, Any]:
        out = []
        for sid, v in self.shards.items():
            d: dict[str, Any] = {"ShardId": sid, "SequenceNumberRange": {
                "StartingSequenceNumber": "0"}}
            if v["parents"]:
                d["ParentShardId"] = v["parents"][0]
            if len(v["parents"]) > 1:
                d["AdjacentParentShardId"] = v["parents"][1]
            if v["closed"]:  # like AWS: beyond any record actually in the shard
                d["SequenceNumberRange"]["EndingSequenceNumber"] = str(10**30)
            out.append(d)
        return {"Shards": out}

    def get_shard_iterator(self, *, ShardId: str, ShardIteratorType: str,
                           StartingSequenceNumber: str | None = None, **kw: Any) -> dict[str, Any]:
        recs = self.shards[ShardId]["records"]
        if ShardIteratorType == "TRIM_HORIZON":
            idx = 0
        elif ShardIteratorType == "LATEST":
            idx = len(recs)
        else:
            assert ShardIteratorType == "AFTER_SEQUENCE_NUMBER"
            idx = next(i + 1 for i, r in enumerate(recs)
                       if r["SequenceNumber"] == StartingSequenceNumber)
        return {"ShardIterator": f"{ShardId}|{idx}"}

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:
        sid, idx = ShardIterator.split("|")
        recs = self.shards[sid]["records"][int(idx):int(idx) + Limit]
        end = int(idx) + len(recs)
        resp: dict[str, Any] = {"Records": recs, "MillisBehindLatest": 0}
        if not (self.shards[sid]["closed"] and end == len(self.shards[sid]["records"])):
            resp["NextShardIterator"] = f"{sid}|{end}"
        return resp


def put_round(fake: FakeKinesis, round_no: int) -> list[tuple[str, int]]:
    """One record per symbol on every open shard (as if the symbol hashed there)."""
    out = []
    for n, sid in enumerate(fake.open_shards()):
        key = f"K{n}"
        fake.put(sid, key, json.dumps({"i": round_no}).encode())
        out.append((key, round_no))
    return out


def by_key(msgs: list[Message]) -> dict[str, list[int]]:
    d = defaultdict(list)
    for m in msgs:
        d[m.key].append(json.loads(m.value)["i"])
    return d


def test_resharding_parents_before_children_and_resume_across_it(tmp_path):
    fake = FakeKinesis(shards=2)
    backend = make_backend(tmp_path, client=fake)
    for r in range(3):
        put_round(fake, r)
    s0, s1 = fake.open_shards()
    c1, c2 = fake.split(s0)
    for r in range(3, 6):
        put_round(fake, r)
    merged = fake.merge(c2, s1)
    for r in range(6, 9):
        put_round(fake, r)
    total = sum(len(v["records"]) for v in fake.shards.values())

    with backend.subscribe(TOPIC, "g") as sub:
        got = drain(sub, total)
    assert len(got) == total
    assert len({m.position for m in got}) == total
    # Every shard read after all of its parents were finished.
    first_seen = {}
    for n, m in enumerate(got):
        first_seen.setdefault(m.position[0], n)
    last_seen = {m.position[0]: n for n, m in enumerate(got)}
    for sid, v in fake.shards.items():
        for p in v["parents"]:
            if sid in first_seen and p in last_seen:
                assert last_seen[p] < first_seen[sid], (p, sid)
    assert merged in first_seen and c1 in first_seen

    # Resume: consume part, commit, reshard again, publish, and a new subscription continues.
    backend2 = make_backend(tmp_path / "b2", client=fake)
    sub = backend2.subscribe(TOPIC, "g")
    part = []
    while len(part) < 7:
        part.extend(sub.poll(max_records=7 - len(part), timeout=0.5))
    sub.commit()
    sub.close()
    a, b = fake.split(merged)
    for r in range(9, 11):
        put_round(fake, r)
    total = sum(len(v["records"]) for v in fake.shards.values())
    with backend2.subscribe(TOPIC, "g") as sub:
        rest = drain(sub, total - 7)
    everything = part + rest
    assert len(everything) == total
    assert len({m.position for m in everything}) == total  # no duplicates
    assert {m.position[0] for m in rest} >= {a, b}


def test_resume_state_names_finished_shards_and_positions(tmp_path):
    fake = FakeKinesis(shards=1)
    backend = make_backend(tmp_path, client=fake)
    put_round(fake, 0)
    (s0,) = fake.open_shards()
    c1, c2 = fake.split(s0)
    put_round(fake, 1)
    with backend.subscribe(TOPIC, "g") as sub:
        drain(sub, 3)
        sub.commit()
    saved = backend.positions.load("g", TOPIC)
    # The parent is finished and both children are saved with their own positions, so the
    # parent entry is no longer needed.
    assert set(saved) == {c1, c2}
    assert saved[c1].isdigit() and saved[c2].isdigit()


def client_error(code: str, op: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, op)


class FlakyKinesis(FakeKinesis):
    """Raises a chosen error from GetRecords on one shard, once."""

    def __init__(self, shards: int, shard: str, code: str) -> None:
        super().__init__(shards)
        self.fail_shard, self.code = shard, code

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:
        if self.code and ShardIterator.startswith(self.fail_shard + "|"):
            code, self.code = self.code, ""
            raise client_error(code, "GetRecords")
        return super().get_records(ShardIterator=ShardIterator, Limit=Limit)


def test_expired_iterator_is_reopened_after_the_last_delivered_record(tmp_path):
    fake = FlakyKinesis(shards=1, shard="shardId-000000000000", code="")
    backend = make_backend(tmp_path, client=fake)
    for r in range(3):
        put_round(fake, r)
    with backend.subscribe(TOPIC, "g") as sub:
        assert len(drain(sub, 3)) == 3
        for r in range(3, 6):
            put_round(fake, r)
        fake.code = "ExpiredIteratorException"
        got = drain(sub, 3)
    assert ids(got) == [3, 4, 5]


def test_error_on_one_shard_does_not_swallow_records_already_read_from_another(tmp_path):
    fake = FlakyKinesis(shards=2, shard="shardId-000000000001", code="AccessDeniedException")
    backend = make_backend(tmp_path, client=fake)
    put_round(fake, 0)
    sub = backend.subscribe(TOPIC, "g")
    sub._turn = -1  # make shard 0 come first in this round
    got = sub.poll(timeout=1.0)
    assert [m.position[0] for m in got] == ["shardId-000000000000"]
    with pytest.raises(BackendError, match="AccessDenied"):
        sub.poll(timeout=0.1)
    sub.commit()
    with backend.subscribe(TOPIC, "g") as sub2:
        rest = drain(sub2, 1)
    assert {m.position for m in got + rest} == {
        (sid, shard["records"][0]["SequenceNumber"]) for sid, shard in fake.shards.items()}
    assert len(got + rest) == 2


def test_put_records_call_failing_midway_reports_what_was_not_stored(backend, monkeypatch):
    real = backend.client.put_records
    calls = []

    def second_call_fails(**kw: Any) -> dict[str, Any]:
        calls.append(len(kw["Records"]))
        if len(calls) == 2:
            raise client_error("AccessDeniedException", "PutRecords")
        return real(**kw)

    monkeypatch.setattr(backend.client, "put_records", second_call_fails)
    with pytest.raises(BackendError, match=r"734 of 1234 records .* not stored.*AccessDenied"):
        backend.publish(TOPIC, records(1234))
    assert calls == [500, 500]


# --- moto as a real local server, through open_backend --------------------------------------

@pytest.mark.integration
def test_open_backend_honours_aws_endpoint_url_with_a_moto_server(aws_env, monkeypatch, tmp_path):
    from moto.server import ThreadedMotoServer

    from tradeflow.config import Settings
    from tradeflow.topics import open_backend

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("TRADEFLOW_BACKEND", "kinesis")
        monkeypatch.setenv("TRADEFLOW_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("TRADEFLOW_KINESIS_STREAM_PREFIX", "srv-")
        settings = Settings()
        assert settings.aws_endpoint_url == url

        admin = boto3.client("kinesis", region_name=REGION, endpoint_url=url)
        create_stream(admin, "srv-" + TOPIC, shards=2)

        backend = open_backend("kinesis", settings)
        assert isinstance(backend, KinesisBackend)
        assert backend.client.meta.endpoint_url == url
        with backend:
            assert backend.publish(TOPIC, records(25)) == 25
            with backend.subscribe(TOPIC, "g") as sub:
                got = drain(sub, 25)
                sub.commit()
        assert sorted(ids(got)) == list(range(25))
        # The records really are on the server, not in some in-process mock.
        shards = admin.list_shards(StreamName="srv-" + TOPIC)["Shards"]
        stored = 0
        for s in shards:
            it = admin.get_shard_iterator(StreamName="srv-" + TOPIC, ShardId=s["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            stored += len(admin.get_records(ShardIterator=it)["Records"])
        assert stored == 25
        assert (tmp_path / "data" / "positions" / "kinesis" / "g" / f"{TOPIC}.json").exists()
    finally:
        server.stop()
