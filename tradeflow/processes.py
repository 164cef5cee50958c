"""Local processes and ports: what the local Flink cluster and the local Kafka broker check
before they start a daemon and before they stop one they recorded."""

from __future__ import annotations

import socket
from pathlib import Path


def alive(pid: int) -> bool:
    """A running process (a zombie, or a pid that is gone, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cmdline(pid: int) -> str:
    """The command line of a process, arguments joined by spaces; "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (for tests and benchmarks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def home_path(*parts: str) -> property:
    """A read-only attribute for the class of a local server: the path `parts` below the
    instance's `home` folder, where the server keeps its configuration, logs and pid files."""
    return property(lambda self: self.home.joinpath(*parts))

