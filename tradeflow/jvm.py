"""The JVM parts tradeflow runs besides Flink: connector jars and a Kafka broker from Maven Central.

Every version is pinned in jvm/pom.xml, one Maven profile per part. `fetch` (run by `make
install`) copies each part with its runtime dependencies into build/jars/<part>/ with Maven's
strict checksum verification, through a temporary folder renamed into place, so a part folder
is either complete or absent. A stamp records the pom it came from: a changed pin refetches.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
POM = REPO_ROOT / "jvm" / "pom.xml"
JARS_DIR = REPO_ROOT / "build" / "jars"
PARTS = ("flink-kafka", "flink-kinesis", "kafka-broker")
_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


class JvmPartMissing(RuntimeError):
    pass


def versions(pom: Path = POM) -> dict[str, str]:
    """The pinned versions: the pom's <properties> (flink.version, kafka.broker.version, ...)."""
    props = ET.parse(pom).getroot().find("m:properties", _NS)
    assert props is not None, f"{pom} has no <properties>"
    return {el.tag.split("}", 1)[1]: (el.text or "").strip() for el in props}


def _stamp() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def part_dir(part: str) -> Path:
    return JARS_DIR / part


def is_fetched(part: str) -> bool:
    stamp = part_dir(part) / ".pom-sha256"
    return stamp.exists() and stamp.read_text().strip() == _stamp()


def jars(part: str) -> list[Path]:
    """The jars of one part, sorted; a clear error when `make install` has not fetched them."""
    if part not in PARTS:
        raise ValueError(f"unknown JVM part {part!r} (one of {', '.join(PARTS)})")
    if not is_fetched(part):
        raise JvmPartMissing(f"{part_dir(part)} is missing or out of date: run `make install` "
                             f"(or `python -m tradeflow.jvm fetch`)")
    return sorted(part_dir(part).glob("*.jar"))


def fetch(parts: tuple[str, ...] = PARTS, quiet: bool = True) -> list[str]:
    """Fetch every part that is missing or out of date; returns the parts fetched."""
    if shutil.which("mvn") is None:
        raise JvmPartMissing("`mvn` is not on PATH: install Maven (Debian package `maven`)")
    done = []
    for part in parts:
        if is_fetched(part):
            continue
        target = part_dir(part)
        tmp = target.with_name(f".{part}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = ["mvn", "-B", "--strict-checksums", "-f", str(POM), "-P", part,
               "dependency:copy-dependencies", "-DincludeScope=runtime",
               f"-DoutputDirectory={tmp}"]
        if quiet:
            cmd.insert(1, "-q")
        proc = subprocess.run(cmd, capture_output=quiet, text=True)
        if proc.returncode != 0:
            tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-20:])
            raise JvmPartMissing(f"fetching {part} from Maven Central failed (exit "
                                 f"{proc.returncode}):\n{tail}")
        (tmp / ".pom-sha256").write_text(_stamp())
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        done.append(part)
    return done


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"]:
        print("usage: python -m tradeflow.jvm fetch [PART ...]", file=sys.stderr)
        return 2
    try:
        fetched = fetch(tuple(argv[1:]) or PARTS)
    except (JvmPartMissing, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"JVM parts in {JARS_DIR}: " + (f"fetched {', '.join(fetched)}" if fetched
                                          else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
