"""The one small interface every topic backend speaks.

A backend publishes records (key + JSON bytes) to a named topic and opens subscriptions that
resume from a saved position per consumer group. Delivery is at-least-once; consumers make
processing idempotent (signal ids, client order ids) so a redelivery after a crash is harmless.
`read` opens a topic outside any group, for inspection (`tradeflow topic read`): it never saves
or moves a position.

Where a group with no saved position starts (`StartAt`): "earliest" (everything the topic still
holds), "latest" (only records appended after `subscribe`), or an aware `datetime`: the records
appended at or after that instant. How exact the instant is depends on the backend: Kafka and
Kinesis go by each record's timestamp (to the millisecond), the file backend by whole segments
(it may deliver some records of the segment that straddles the instant, never fewer).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

StartAt = Literal["earliest", "latest"] | datetime


class BackendError(RuntimeError):
    """A backend could not do what was asked (broker unreachable, stream missing, ...)."""


def check_start(backend: str, start: StartAt) -> StartAt:
    """`start` if it is one a backend accepts, else a one-line BackendError."""
    if isinstance(start, datetime):
        # A naive time would silently mean the machine's local zone: refuse to guess.
        if start.utcoffset() is None:
            raise BackendError(f"{backend} backend: start time {start.isoformat()} has no time "
                               "zone; give an aware datetime (e.g. tzinfo=timezone.utc)")
        return start
    if start not in ("earliest", "latest"):
        raise BackendError(f"{backend} backend: start must be 'earliest', 'latest' or an aware "
                           f"datetime, not {start!r}")
    return start


@dataclass(frozen=True, slots=True)
class Record:
    """What a producer hands to `publish`: a partition key (the symbol) and the JSON payload."""

    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """What a subscription delivers. `position` is backend-specific and opaque to callers."""

    topic: str
    value: bytes
    key: str | None = None
    position: object = None


class Subscription(ABC):
    """Reads one topic for one consumer group, from that group's saved position."""

    topic: str
    group: str

    @abstractmethod
    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        """Up to `max_records` messages after the last delivered one; [] after `timeout` seconds."""

    @abstractmethod
    def commit(self) -> None:
        """Save the position after the last message delivered by `poll`, durably."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Uncommitted progress is not saved."""

    def __iter__(self) -> Iterator[Message]:
        while True:
            yield from self.poll()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reader(ABC):
    """Reads one topic outside any consumer group, like `kcat -C`: it has no position to save
    and moves no group's position, so reading never changes what a consumer will see."""

    topic: str

    @abstractmethod
    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        """Up to `max_records` messages after the last delivered one; [] after `timeout` seconds."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(ABC):
    """A set of topics on one transport (files, Kafka, Kinesis)."""

    name: str

    @abstractmethod
    def publish(self, topic: str, records: Iterable[Record]) -> int:
        """Append records to `topic`; returns how many. Raises BackendError if any was not stored."""

    def broadcast(self, topic: str, value: bytes) -> int:
        """Append `value` once to every partition (shard) of `topic`: a record every reader of
        every partition must see, such as a producer's clock. Returns how many were written.
        A backend whose topic is one ordered stream writes it once."""
        return self.publish(topic, [Record("*", value)])

    @abstractmethod
    def subscribe(self, topic: str, group: str, start: StartAt = "earliest") -> Subscription:
        """Open `topic` for `group`, resuming at the group's saved position (else at `start`).
        Raises BackendError for a `start` that is not a `StartAt` (e.g. a naive datetime)."""

    @abstractmethod
    def read(self, topic: str, from_beginning: bool = False) -> Reader:
        """Open `topic` outside any consumer group: from its oldest record, or (default) only
        records that arrive after this returns. Raises BackendError if the topic does not exist
        or the transport cannot be reached."""

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Make everything published so far visible to readers."""

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
