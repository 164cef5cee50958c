"""Consumer positions saved on local disk, one small JSON file per (group, topic).

Used by the file and Kinesis backends (Kafka keeps positions in the broker). Writes are atomic
(temporary file, fsync, rename), so a crash leaves either the old or the new position.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class PositionStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, group: str, topic: str) -> Path:
        return self.root / _SAFE.sub("_", group) / f"{_SAFE.sub('_', topic)}.json"

    def load(self, group: str, topic: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(group, topic).read_bytes())
        except FileNotFoundError:
            return None

    def save(self, group: str, topic: str, state: dict[str, Any]) -> None:
        write_atomic(self._path(group, topic), json.dumps(state, sort_keys=True).encode())
