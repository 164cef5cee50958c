"""The kill switch: while a file exists, no new order is placed, by any consumer process.

A file (default `<data dir>/KILL`) is the switch because every process, a shell (`touch KILL`)
and the dashboard can see and flip it without talking to the consumer. The risk manager reads it
before every order, so engaging it takes effect at the next signal. Its content (JSON: reason,
since, by) is informative only: the file's existence is the state. Anything at the path engages
it, whatever it is (a directory, an unreadable file, a symlink to nowhere): only "nothing there"
releases it, so a mistake or a failure to read it can never disable it.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from tradeflow.config import Settings, get_settings
from tradeflow.contracts import to_wire_time
from tradeflow.topics.positions import write_atomic


@dataclass(frozen=True)
class KillState:
    engaged: bool
    reason: str = ""
    since: str | None = None  # ISO-8601 UTC
    by: str = ""
    path: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class KillSwitch:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def state(self) -> KillState:
        try:
            info, mtime = self._read()
        except (FileNotFoundError, NotADirectoryError):  # nothing at the path (lstat)
            return KillState(False, path=str(self.path))
        except OSError as err:  # cannot even look (a parent without permission): fail safe
            info, mtime = {"reason": f"kill switch {self.path} cannot be checked "
                                     f"({err.strerror or type(err).__name__})"}, None
        since = info.get("since") or (
            to_wire_time(datetime.fromtimestamp(mtime, timezone.utc)) if mtime else None)
        return KillState(True, str(info.get("reason") or "kill switch file present"), since,
                         str(info.get("by", "")), str(self.path))

    def _read(self) -> tuple[dict, float]:
        """The file's content and mtime. Raises only if nothing can be seen at the path."""
        mtime = os.lstat(self.path).st_mtime  # the link itself: a symlink to nowhere is there
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):  # a directory; a FIFO would block
                return {"reason": f"kill switch {self.path} present (not a regular file)"}, mtime
            raw = self.path.read_bytes()
        except OSError as err:  # no permission, a symlink to nowhere
            return {"reason": f"kill switch {self.path} present but unreadable "
                              f"({err.strerror or type(err).__name__})"}, mtime
        try:
            info = json.loads(raw) if raw.strip() else {}
            if not isinstance(info, dict):
                info = {}
        except ValueError:  # a hand-made `touch KILL` or free text: still engaged
            info = {"reason": raw.decode("utf-8", "replace").strip()[:200]}
        return info, mtime

    @property
    def engaged(self) -> bool:
        return self.state().engaged  # not path.exists(): False for a symlink to nowhere

    def engage(self, reason: str = "", by: str = "cli") -> KillState:
        info = {"reason": reason or "engaged by operator", "by": by,
                "since": to_wire_time(datetime.now(timezone.utc))}
        write_atomic(self.path, json.dumps(info).encode())
        return self.state()

    def release(self) -> KillState:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        return self.state()


def kill_switch_for(settings: Settings | None = None) -> KillSwitch:
    from tradeflow.config import get_consumer_settings

    return KillSwitch(get_consumer_settings().kill_path(settings or get_settings()))


def kill_switch_state(settings: Settings | None = None) -> KillState:
    """The kill switch as the dashboard (or anyone) should show it. Cheap: one stat/read."""
    return kill_switch_for(settings).state()
