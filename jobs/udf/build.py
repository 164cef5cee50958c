"""Compile the JVM indicator aggregates into build/tradeflow-udf.jar.

Usage: ``python -m jobs.udf.build [--force]`` or ``python jobs/udf/build.py``. Other code calls
:func:`ensure_udf_jar`, which rebuilds only when a Java source is newer than the jar.

There is no Maven here: the classes are compiled with plain ``javac`` against the jars that ship
inside the installed PyFlink wheel, so the jar always matches the Flink version that runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOT = Path(__file__).resolve().parent / "src" / "main" / "java"
JAR_PATH = REPO_ROOT / "build" / "tradeflow-udf.jar"
# 11 keeps the jar loadable by Java 11 TaskManagers (AWS Managed Flink images still use it).
JAVA_RELEASE = "11"


class UdfBuildError(RuntimeError):
    """javac is missing or the sources do not compile."""


def pyflink_classpath() -> list[Path]:
    """The Flink jars bundled with the installed PyFlink (lib/ and opt/)."""
    import pyflink  # imported lazily: building must not need a JVM or a configured Flink

    home = Path(os.path.dirname(os.path.abspath(pyflink.__file__)))
    jars = sorted((home / "lib").glob("*.jar")) + sorted((home / "opt").glob("*.jar"))
    if not jars:
        raise UdfBuildError(f"no Flink jars under {home}/lib: is apache-flink installed?")
    return jars


def java_sources() -> list[Path]:
    return sorted(SOURCE_ROOT.rglob("*.java"))


def _is_stale(jar: Path, sources: list[Path]) -> bool:
    if not jar.exists():
        return True
    jar_mtime = jar.stat().st_mtime
    return any(src.stat().st_mtime > jar_mtime for src in sources)


def _javac() -> str:
    found = shutil.which("javac")
    if found:
        return found
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "javac").exists():
        return str(Path(java_home) / "bin" / "javac")
    raise UdfBuildError("javac not found on PATH or in $JAVA_HOME/bin: install a JDK (17)")


def build_jar(jar: Path = JAR_PATH) -> Path:
    """Compile every source under SOURCE_ROOT and write the jar atomically."""
    sources = java_sources()
    if not sources:
        raise UdfBuildError(f"no Java sources under {SOURCE_ROOT}")
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tradeflow-udf-") as tmp:
        classes = Path(tmp) / "classes"
        cmd = [
            _javac(), "--release", JAVA_RELEASE, "-encoding", "UTF-8", "-nowarn",
            "-cp", os.pathsep.join(str(p) for p in pyflink_classpath()),
            "-d", str(classes), *map(str, sources),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise UdfBuildError(f"javac failed ({proc.returncode}):\n{proc.stderr or proc.stdout}")
        # Write next to the target and rename, so a concurrent reader never sees half a jar.
        fd, partial = tempfile.mkstemp(prefix=".tradeflow-udf-", suffix=".jar", dir=jar.parent)
        os.close(fd)
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: tradeflow jobs/udf/build.py\n\n")
                for cls in sorted(classes.rglob("*.class")):
                    zf.write(cls, cls.relative_to(classes).as_posix())
            os.chmod(partial, 0o644)  # mkstemp makes it 0600; a cluster under another user must read it
            os.replace(partial, jar)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    return jar


def ensure_udf_jar(force: bool = False) -> Path:
    """Path of build/tradeflow-udf.jar, (re)building it first if a source is newer."""
    if force or _is_stale(JAR_PATH, java_sources()):
        build_jar(JAR_PATH)
    return JAR_PATH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the jar is up to date")
    args = parser.parse_args(argv)
    try:
        print(ensure_udf_jar(force=args.force))
    except UdfBuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
