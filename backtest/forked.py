"""Work beside the main process, on the machine's other core: a forked child computes something
the main process does not need until later (the signals' measures while the engine trades them).

The child starts as a copy of the parent at the fork, so its input is not copied or pickled;
only its result comes back, pickled through a pipe. Where fork does not exist (Windows), the work
runs in place when its result is asked for.

The two processes share the parent's memory pages until either writes to one. A garbage
collection writes to every object it walks, so before each fork the parent's objects are frozen
out of its collections (gc.freeze): otherwise both processes copy most of the heap page by page,
which on a 300k-bar backtest made the parent's work after the fork three to five times slower.
Call `thaw()` when the forks are done with, so the frozen objects are collected again.
"""

from __future__ import annotations

import gc
import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _child(send: Connection, work: Callable[[], Any]) -> None:
    try:
        result = (True, work())
    except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent says it
        result = (False, "".join(traceback.format_exception(exc)).rstrip())
    send.send(result)
    send.close()


def thaw() -> None:
    """The objects frozen at the forks take part in garbage collections again."""
    gc.unfreeze()


class Forked(Generic[T]):
    """`work()` running in a forked child from now on; `result()` waits for it."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._proc: Any = None
        if "fork" in multiprocessing.get_all_start_methods():
            gc.freeze()
            ctx = multiprocessing.get_context("fork")
            self._recv, send = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(target=_child, args=(send, work), daemon=True)
            self._proc.start()
            send.close()

    def result(self) -> T:
        """The work's result; raises RuntimeError (with the child's traceback) if it failed."""
        if self._proc is None:
            return self._work()
        try:
            ok, value = self._recv.recv()
        except EOFError:  # it died without a word (killed, out of memory)
            self._proc.join()
            raise RuntimeError(f"forked work ended without a result (exit code "
                               f"{self._proc.exitcode})") from None
        finally:
            self._recv.close()
        self._proc.join()
        if not ok:
            raise RuntimeError(f"forked work failed:\n{value}")
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Stop the child if it still runs (the parent failed and will not ask)."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
