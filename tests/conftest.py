"""Fixtures shared by the whole suite."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tradeflow.config import Settings, get_settings, set_command_line
from tradeflow.contracts import is_clock
from tradeflow.processes import alive, cmdline, free_port
from tradeflow.topics.local_kafka import LocalKafka

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (see ../shared/data/README.md)")
    return path


T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, timeout: float = 180, every: float = 0.2) -> T:
    """The first truthy value `check()` returns, polled every `every` seconds; after `timeout`
    the test fails saying `what` never happened (a bound for a stuck run, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s")
        time.sleep(every)
    return value


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it: code given its `monotonic`
    and `sleep` waits no wall time, and a test reads how long it waited from `now`/`sleeps`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"asked to sleep {seconds} s"
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def waited(self) -> float:
        return self.now - self.start


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (a path only they were given)."""
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and text in cmdline(int(p.name)) and alive(int(p.name))]


def fs_clock_past(directory: Path, t: float) -> None:
    """Wait (a few ms) until the file system's clock, which stamps sealing times and runs a tick
    behind time.time(), is past `t`: what is sealed from then on is sealed after `t`."""
    probe = directory / ".clock-probe"
    while True:
        probe.write_bytes(b"")
        if probe.stat().st_ctime > t:
            return
        time.sleep(0.005)


def drain(backend, topic: str, group: str = "test", clocks: bool = False) -> list[bytes]:
    """Every record on `topic` (from the start, for a fresh `group`), as raw bytes; producers'
    clock records only with `clocks` (every reader but the job skips them)."""
    sub = backend.subscribe(topic, group)
    out = []
    while batch := sub.poll(max_records=10_000, timeout=0.2):
        out += [m.value for m in batch if clocks or not is_clock(m.value)]
    return out


# What makes a test an integration test (pytest -m integration / -m "not integration"): it
# starts a JVM (the `flink` marker), a broker, a subprocess, a browser or a network server. A test
# says so with `@pytest.mark.integration` (or its file's `pytestmark`); one that uses a fixture
# starting such a thing gets the marker here, so `make test-unit` runs on a machine without Java,
# a broker or a browser.
INTEGRATION_FIXTURES = frozenset({"kafka_broker", "moto_url", "moto_endpoint", "consumer_port"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if (item.get_closest_marker("flink")
                or INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _settings_of_this_test() -> Iterator[None]:
    """No test sees settings another test read (every getter caches what it read), nor the flags
    of another test's command line."""
    set_command_line()
    yield
    set_command_line()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data directory is a fresh temporary one (also exported to child processes)."""
    monkeypatch.setenv("TRADEFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TRADEFLOW_BACKEND", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real single-node Kafka broker (KRaft, from the jars `make install` fetched) on free
    ports, for the whole session; tests that need a clean slate use their own topics or groups."""
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=free_port(),
                        controller_port=free_port())
    broker.start()
    yield broker
    broker.stop()
