"""Several parameter sets of the signal job as ONE bounded Flink job (a backtest's grid).

Each parameter set's job is rendered from the same SQL files as a single run (SignalJob), and
the statements of all of them go into one statement set. What reads the same for two parameter
sets is defined once and shared: the sources, the checks, the news scores and, unless a set
changes an indicator period, the indicators. So the input is read and the windows and the
sentiment UDF run once, and only what a set changes (its setups and decisions, its sink) is
planned per set. Names that would clash get a `__p<i>` suffix; the references to them in the
later statements (`FROM x`, `JOIN x`, `INSERT INTO x`) follow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jobs.signal_job import JobConfigError, SignalJob, statement_set

_DEFINES = re.compile(r"CREATE\s+(?:TEMPORARY\s+)?(?:SYSTEM\s+)?(?:TABLE|VIEW|FUNCTION)\s+"
                      r"(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)


def _rename(stmt: str, names: dict[str, str]) -> str:
    """`stmt` with every reference to a renamed table or view following its new name."""
    moved = {old: new for old, new in names.items() if old != new}
    if not moved:
        return stmt
    pattern = re.compile(r"\b(FROM|JOIN|INSERT\s+INTO)(\s+)(" + "|".join(map(re.escape, moved))
                         + r")\b", re.IGNORECASE)
    return pattern.sub(lambda m: m[1] + m[2] + moved[m[3]], stmt)


@dataclass
class Sweep:
    """The statements of several jobs as one: shared where equal, suffixed where not."""

    ddl: list[str]
    inserts: list[str]

    def names(self) -> list[str]:
        """The tables, views and functions the sweep defines, in order."""
        return [_DEFINES.match(stmt)[1] for stmt in self.ddl]  # type: ignore[index]


def merge(jobs: Sequence[SignalJob]) -> Sweep:
    if not jobs:
        raise JobConfigError("a sweep needs at least one parameter set")
    if any(j.mode != "bounded" for j in jobs):
        raise JobConfigError("a sweep runs bounded jobs only")
    ddl: list[str] = []
    inserts: list[str] = []
    # The definition (with its own name written as {name}) of every object defined so far.
    defined: dict[str, str] = {}
    taken: set[str] = set()
    for i, job in enumerate(jobs):
        names: dict[str, str] = {}  # this set's name -> the object it uses
        job_ddl, job_inserts = job.statements()
        for stmt in job_ddl:
            m = _DEFINES.match(stmt)
            if m is None:
                raise JobConfigError(f"a sweep cannot share this statement: {stmt[:80]}")
            name = m[1]
            body = _rename(stmt, names)
            shape = body[:m.start(1)] + "{name}" + body[m.end(1):]
            same = next((n for n, s in defined.items() if s == shape), None)
            if same is not None:
                names[name] = same
                continue
            new = name if name not in taken else f"{name}__p{i}"
            taken.add(new)
            names[name] = new
            defined[new] = shape
            ddl.append(body[:m.start(1)] + new + body[m.end(1):])
        inserts += [_rename(s, names) for s in job_inserts]
    return Sweep(ddl, inserts)


def run_sweep(jobs: Sequence[SignalJob], ready: Callable[[], bool] | None = None) -> bool:
    """Run the jobs' parameter sets as one bounded job (the first job's runtime options) and
    wait for it to finish. `ready`, if given, is asked once the job is defined (its JVM up),
    before it starts reading: False ends without running it. Returns whether it ran."""
    sweep = merge(jobs)
    statements = statement_set(jobs[0].environment(), sweep.ddl, sweep.inserts)
    if ready is not None and not ready():
        return False
    statements.execute().wait()
    return True
