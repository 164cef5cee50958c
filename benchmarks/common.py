"""What the benchmarks share: their command line, their rounds, their printed result."""

from __future__ import annotations

import argparse
import inspect
import json
from typing import Callable, Iterable

Phases = tuple[float, ...]  # seconds of one run, e.g. (startup, run): their sum is its time


def cli(run: Callable[..., dict], description: str | None, *options: str,
        **helps: str) -> dict:
    """Call `run` with `--option` values from the command line, one for each of `options` (names
    of run's parameters). Their defaults and types come from run's signature, so a default is
    written once and `python -m benchmarks NAME` (run() alone) runs what the command line does."""
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    params = inspect.signature(run).parameters
    for name in options:
        default = params[name].default
        ap.add_argument(f"--{name}", type=type(default), default=default, help=helps.get(name))
    return run(**vars(ap.parse_args()))


def best_of(repeats: int, names: Iterable[str],
            one: Callable[[str, int], Phases]) -> tuple[dict[str, Phases], dict[str, list[float]]]:
    """`one(name, round)` for each name, `repeats` rounds, alternating: the runs of a round go
    back to back under the same load from other work, and the best of each name counts (the
    machine is shared and noisy, and a first run may be on a cold JVM). Returns the best phases
    of each name and every run's seconds (to 0.01 s)."""
    names = list(names)
    best: dict[str, Phases] = {name: (float("inf"),) for name in names}
    each: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        for name in names:
            phases = one(name, i)
            each[name].append(round(sum(phases), 2))
            best[name] = min(best[name], phases, key=sum)
    return best, each


def report(result: dict) -> dict:
    print(json.dumps(result, indent=2))
    return result
