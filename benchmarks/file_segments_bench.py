"""File backend: reading a topic of many small segments against the same records in one segment.

    python -m benchmarks.file_segments_bench

The baseline is the same records sealed as one segment, read side by side. The ratio (many
segments / one segment) says what a segment costs a reader; if reading were quadratic in the
number of segments (each segment listing the directory, as it once did), the ratio would grow
with the count: 1,000 and 4,000 segments are both measured to show it does not.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import cli
from tradeflow.config import PRICES
from tradeflow.topics import Record
from tradeflow.topics.file import FileBackend

TOPIC = PRICES
PASSES = 3  # best of


def _write(root: Path, n: int, one_segment: bool) -> None:
    records = [Record("AAPL", json.dumps({"i": i}).encode()) for i in range(n)]
    with FileBackend(root, segment_bytes=1 << 30 if one_segment else 1) as b:
        if one_segment:
            b.publish(TOPIC, records)
        else:
            for r in records:
                b.publish(TOPIC, [r])


def _read_seconds(root: Path, n: int) -> float:
    best = float("inf")
    for _ in range(PASSES):
        b = FileBackend(root)
        start, got = time.perf_counter(), 0
        with b.read(TOPIC, from_beginning=True) as reader:
            while batch := reader.poll(max_records=5000, timeout=0):
                got += len(batch)
        best = min(best, time.perf_counter() - start)
        assert got == n, (got, n)
    return best


def run(counts: tuple[int, ...] = (1000, 4000)) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="tradeflow-bench-") as tmp:
        for n in counts:
            many, one = Path(tmp) / f"many-{n}", Path(tmp) / f"one-{n}"
            _write(many, n, one_segment=False)
            _write(one, n, one_segment=True)
            t_many, t_one = _read_seconds(many, n), _read_seconds(one, n)
            out[n] = {"segments_seconds": round(t_many, 4), "one_segment_seconds": round(t_one, 4),
                      "ratio": round(t_many / t_one, 1)}
            print(f"{n:,} records: {n:,} segments {t_many:.3f} s, one segment {t_one:.3f} s, "
                  f"ratio {t_many / t_one:.1f}", flush=True)
    return out


if __name__ == "__main__":
    cli(run, __doc__)
