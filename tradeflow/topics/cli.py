"""`tradeflow topic ...`: look at topics on any backend, for people and scripts.

`tradeflow topic read TOPIC` is to the project's topics what `kcat -C` is to Kafka: it prints each
record's value as it is on the topic, one per line (NDJSON, since every record here is one line
of JSON), on stdout. It reads through `Backend.read`, outside any consumer group, so it never
moves a group's position; nothing but records ever goes to stdout.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import BinaryIO

import click

from .base import Reader

# Without --follow and --timeout: the topic is taken as read once it has been quiet this long.
DEFAULT_IDLE_S = 1.0
# Longest single wait inside the loop, so Ctrl-C / SIGTERM end the command within about this.
TICK_S = 0.25
BATCH = 500


def copy_records(reader: Reader, out: BinaryIO, *, idle: float | None, max_records: int | None,
                 stop: threading.Event,
                 monotonic: Callable[[], float] = time.monotonic) -> int:
    """Write each record's value from `reader` to `out`, a line each, flushed batch by batch,
    until `stop` is set, `max_records` are written, or (unless `idle` is None) nothing arrived
    for `idle` seconds since the start or the last record. Returns how many were written."""
    written = 0
    last = monotonic()
    while not stop.is_set():
        want = BATCH if max_records is None else min(BATCH, max_records - written)
        wait = TICK_S if idle is None else max(0.0, min(TICK_S, last + idle - monotonic()))
        batch = reader.poll(max_records=want, timeout=wait)
        now = monotonic()
        if batch:
            last = now
            out.write(b"".join((m.value if m.value is not None else b"null") + b"\n"
                               for m in batch))
            out.flush()
            written += len(batch)
            if max_records is not None and written >= max_records:
                break
        elif idle is not None and now - last >= idle:
            break
    return written


@click.group("topic")
def topic() -> None:
    """Look at topics on the selected backend (--backend / TRADEFLOW_BACKEND)."""


@topic.command("read")
@click.argument("name", metavar="TOPIC")
@click.option("--from-beginning", is_flag=True,
              help="Start at the topic's oldest record (default: only records that arrive "
                   "after the command started).")
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing records as they arrive until Ctrl-C or SIGTERM (exit 0).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help=f"Exit (0) after S seconds without a new record [default without --follow: "
                   f"{DEFAULT_IDLE_S:g}].")
@click.option("--max", "max_records", type=click.IntRange(min=1), metavar="N",
              help="Exit (0) after N records.")
def read_cmd(name: str, from_beginning: bool, follow: bool, timeout: float | None,
             max_records: int | None) -> None:
    """Print the records of TOPIC on stdout as NDJSON: one record per line, each record's value
    exactly as it is on the topic (a record whose value holds a newline would span lines;
    the project's records never do). Reads outside any consumer group, so no group's position
    moves.

    \b
    When it stops:
      --follow     never on its own: until Ctrl-C / SIGTERM (or --max), then exit 0
      --timeout S  after S seconds without a new record
      (neither)    as --timeout 1: print what is there now and exit, e.g.
                   `tradeflow topic read stock-prices --from-beginning > prices.ndjson`
      --max N      after N records, in every mode

    Records are written out as soon as they are read (flushed, never held back), so
    `... --follow | jq` shows each one as it arrives. Exit 1 with a one-line message when the
    topic does not exist or its backend cannot be reached; exit 2 on bad usage.
    """
    if follow and timeout is not None:
        raise click.UsageError("--follow and --timeout exclude each other: --follow never stops "
                               "on its own, --timeout stops when the topic goes quiet.")
    idle = None if follow else (timeout if timeout is not None else DEFAULT_IDLE_S)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: give up on a clean close
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    # Clients' own retry chatter (kafka-python logs every refused connection) would bury the one
    # line that matters; what cannot be done reaches the user as a BackendError below.
    for noisy in ("kafka", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)

    from tradeflow.topics import BackendError, open_backend

    out = click.get_binary_stream("stdout")
    try:
        with open_backend() as backend, backend.read(name, from_beginning) as reader:
            copy_records(reader, out, idle=idle, max_records=max_records, stop=stop)
    except BackendError as e:
        raise click.ClickException(" ".join(str(e).split())) from None
    except BrokenPipeError:
        # The reader of our output is gone (`| head -3`): that is the end, not an error. Point
        # stdout at /dev/null so the interpreter's last flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        pass
