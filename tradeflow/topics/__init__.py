"""Topic backends behind one interface; `open_backend` picks one from the settings."""

from __future__ import annotations

from tradeflow.config import BackendName, Settings, get_settings

from .base import Backend, BackendError, Message, Record, StartAt, Subscription

__all__ = ["Backend", "BackendError", "Message", "Record", "StartAt", "Subscription",
           "open_backend", "read_all"]


def read_all(backend: Backend, topic: str, timeout: float = 1.0) -> list[bytes]:
    """Every record on `topic` but clocks, oldest first, read outside any consumer group (until
    a poll of `timeout` seconds brings nothing); none when the topic does not exist."""
    from tradeflow.contracts import is_clock

    out: list[bytes] = []
    try:
        with backend.read(topic, from_beginning=True) as reader:
            while batch := reader.poll(max_records=5000, timeout=timeout):
                out += [m.value for m in batch if not is_clock(m.value)]
    except BackendError:
        return []
    return out


def open_backend(name: str | BackendName | None = None, settings: Settings | None = None) -> Backend:
    """The backend named by `name`, else by TRADEFLOW_BACKEND. Imports only the one it needs."""
    s = settings or get_settings()
    which = BackendName(name or s.backend)
    if which is BackendName.file:
        from .file import FileBackend

        return FileBackend(s.path(), s.file_segment_bytes, s.file_segment_seconds,
                           retention_seconds=s.file_retention_seconds,
                           retention_bytes=s.file_retention_bytes)
    if which is BackendName.kafka:
        from .kafka import KafkaBackend

        return KafkaBackend(s.kafka_servers)
    from .kinesis import KinesisBackend
    from .positions import PositionStore

    return KinesisBackend(region=s.aws_region, endpoint_url=s.aws_endpoint_url,
                          stream_prefix=s.kinesis_stream_prefix,
                          positions=PositionStore(s.path("positions", "kinesis")))
