"""The signal job as an AWS Managed Service for Apache Flink (1.20) application: packaging and
entry point.

`make flink-app-zip` (python jobs/package_flink_app.py) builds build/flink-app/tradeflow-flink-app.zip:

  main.py                        entry point (runs `run_application` below)
  jobs/, tradeflow/, sql/, strategy.toml   the job's Python code and SQL
  build/tradeflow-udf.jar        the JVM indicator UDFs (jobs.udf.ensure_udf_jar), which is
                                 where jobs.udf looks for it, so nothing is compiled on AWS
  site-packages/                 Python dependencies not in the Flink image (vaderSentiment)
  lib/pyflink-dependencies.jar   ONE jar, as the service's `jarfile` run option takes one: the
                                 UDF classes merged with org.apache.flink:flink-sql-connector-
                                 kinesis:5.0.0-1.20 from Maven Central (service files joined)

When Maven Central cannot be reached (or with --offline), the build says so, still writes the
zip without the connector and marks it with CONNECTOR-JAR-MISSING.txt at its root: such a zip
cannot read or write Kinesis. `--connector-jar PATH` uses a jar fetched some other way.

At run time the application reads its property groups from /etc/flink/application_properties.json
on AWS (what Terraform sets as environment_properties), else from the file named by
TRADEFLOW_FLINK_PROPERTIES, else application_properties.json next to main.py. Group `tradeflow`:
  aws_region, prices_stream_arn, news_stream_arn, signals_stream_arn (required),
  source_init_position (TRIM_HORIZON | LATEST | AT_TIMESTAMP; default TRIM_HORIZON, so a new
  application warms its indicators up on the retained history), parallelism (default 1),
  job_name (default tradeflow-signals).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / "build" / "flink-app"
ZIP_NAME = "tradeflow-flink-app.zip"
CONNECTOR = ("org.apache.flink", "flink-sql-connector-kinesis", "5.0.0-1.20")
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
AWS_PROPERTIES = Path("/etc/flink/application_properties.json")
PROPERTY_GROUP = "tradeflow"
DEPENDENCY_JAR = "lib/pyflink-dependencies.jar"
MISSING_MARKER = "CONNECTOR-JAR-MISSING.txt"
# Managed Flink 1.20 runs Python 3.11 on Linux x86_64.
PY_DEPS = ["vaderSentiment==3.3.2"]
PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp",
            "--python-version", "3.11", "--only-binary=:all:"]
JOB_FILES = ("jobs/__init__.py", "jobs/signal_job.py", "jobs/sql_loader.py", "jobs/udfs.py",
             "jobs/udf/__init__.py", "jobs/udf/build.py", "jobs/package_flink_app.py",
             "strategy.toml")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)

MAIN_PY = '''"""Entry point of the tradeflow signal job on AWS Managed Service for Apache Flink."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT / "site-packages")]

from jobs.package_flink_app import run_application  # noqa: E402

if __name__ == "__main__":
    run_application(ROOT)
'''


class AppConfigError(ValueError):
    """The application's runtime properties are missing or incomplete."""


# --- run time ---------------------------------------------------------------------------------
def load_properties(path: Path | None = None, root: Path | None = None) -> dict[str, dict[str, str]]:
    """Property groups as {group id: {key: value}} from the first file that exists."""
    candidates = [path] if path else [
        AWS_PROPERTIES,
        Path(os.environ["TRADEFLOW_FLINK_PROPERTIES"]) if os.environ.get(
            "TRADEFLOW_FLINK_PROPERTIES") else None,
        (root or REPO_ROOT) / "application_properties.json"]
    for candidate in candidates:
        if candidate is not None and candidate.exists():
            groups = json.loads(candidate.read_text())
            return {g["PropertyGroupId"]: {str(k): str(v) for k, v in g["PropertyMap"].items()}
                    for g in groups}
    raise AppConfigError("no application properties: not on Managed Flink "
                         f"({AWS_PROPERTIES} is absent) and no TRADEFLOW_FLINK_PROPERTIES file")


def job_from_properties(groups: dict[str, dict[str, str]], root: Path = REPO_ROOT) -> Any:
    """The streaming SignalJob on the Kinesis backend that the properties describe."""
    from jobs.signal_job import SignalJob

    props = groups.get(PROPERTY_GROUP)
    if props is None:
        raise AppConfigError(f"property group {PROPERTY_GROUP!r} is missing")
    missing = [k for k in ("aws_region", "prices_stream_arn", "news_stream_arn",
                           "signals_stream_arn") if not props.get(k)]
    if missing:
        raise AppConfigError(f"property group {PROPERTY_GROUP!r} lacks {', '.join(missing)}")
    extra = {}
    dep_jar = root / DEPENDENCY_JAR
    if dep_jar.exists():  # in the application zip: the UDFs and the connector in one jar
        extra["pipeline.jars"] = dep_jar.resolve().as_uri()
        # Python workers import the job's UDF modules and their dependencies from these.
        extra["python.files"] = ",".join(str(root / d) for d in ("tradeflow", "jobs",
                                                                  "site-packages")
                                         if (root / d).exists())
    return SignalJob(
        mode="streaming", backend="kinesis", prices=props["prices_stream_arn"],
        news=props["news_stream_arn"], signals=props["signals_stream_arn"],
        dead_letter=props.get("dead_letter_stream_arn", ""),
        parallelism=int(props.get("parallelism", "1")),
        name=props.get("job_name", "tradeflow-signals"),
        connector_params={"aws_region": props["aws_region"],
                          "source_init_position": props.get("source_init_position",
                                                            "TRIM_HORIZON")},
        extra_config=extra, cluster_checkpoints=True, python_mode="process")  # Managed Flink owns the checkpoints


def run_application(root: Path = REPO_ROOT) -> None:
    job = job_from_properties(load_properties(root=root), root)
    job.run(wait=False)  # the service runs the job; main.py only submits it


# --- build time -------------------------------------------------------------------------------
def connector_url() -> str:
    group, artifact, version = CONNECTOR
    return f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/" \
           f"{artifact}-{version}.jar"


def fetch_connector(dest: Path, timeout: float = 20.0) -> tuple[Path | None, str]:
    """Download the connector jar and check it against Maven Central's SHA-1.
    Returns (path, "") or (None, why not)."""
    url = connector_url()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - fixed https URL
            data = resp.read()
        with urllib.request.urlopen(url + ".sha1", timeout=timeout) as resp:  # noqa: S310
            expected = resp.read().decode().split()[0].strip()
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        return None, f"cannot download {url}: {err}"
    if hashlib.sha1(data).hexdigest() != expected:  # noqa: S324 - Maven publishes SHA-1
        return None, f"checksum mismatch for {url}"
    dest.write_bytes(data)
    return dest, ""


def merge_jars(jars: list[Path], target: Path) -> None:
    """One jar from several: first entry of a name wins, except META-INF/services files, which
    are concatenated (Flink finds table factories through them); signatures are dropped."""
    services: dict[str, list[bytes]] = {}
    seen: set[str] = set()
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for jar in jars:
            with zipfile.ZipFile(jar) as zf:
                for info in zf.infolist():
                    name = info.filename
                    upper = name.upper()
                    if info.is_dir() or upper.startswith("META-INF/") and upper.endswith(
                            (".SF", ".RSA", ".DSA", ".EC")):
                        continue
                    if name.startswith("META-INF/services/"):
                        services.setdefault(name, []).append(zf.read(name).strip())
                        continue
                    if name in seen:
                        continue
                    seen.add(name)
                    out.writestr(zipfile.ZipInfo(name, FIXED_TIME), zf.read(name),
                                 zipfile.ZIP_DEFLATED)
        for name, parts in sorted(services.items()):
            out.writestr(zipfile.ZipInfo(name, FIXED_TIME), b"\n".join(parts) + b"\n",
                         zipfile.ZIP_DEFLATED)


def _add(zf: zipfile.ZipFile, path: Path, name: str) -> None:
    zf.writestr(zipfile.ZipInfo(name, FIXED_TIME), path.read_bytes(), zipfile.ZIP_DEFLATED)


def _add_tree(zf: zipfile.ZipFile, root: Path, prefix: str, suffixes: tuple[str, ...] = ()) -> None:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or "__pycache__" in rel.parts or path.suffix == ".pyc":
            continue
        if suffixes and path.suffix not in suffixes:
            continue
        _add(zf, path, prefix + rel.as_posix())


def build(out_dir: Path = OUT_DIR, *, offline: bool = False, connector_jar: Path | None = None,
          python_deps: bool = True) -> tuple[Path, list[str]]:
    """Write the application zip; returns its path and the warnings (empty = complete)."""
    from jobs.udf import ensure_udf_jar

    warnings: list[str] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flink-app-") as tmp_str:
        tmp = Path(tmp_str)
        udf_jar = ensure_udf_jar()
        jars = [udf_jar]
        if connector_jar is None and not offline:
            connector_jar, why = fetch_connector(tmp / "connector.jar")
            if connector_jar is None:
                warnings.append(why)
        elif connector_jar is None:
            warnings.append("--offline: the connector was not downloaded")
        if connector_jar is not None:
            jars.append(connector_jar)
        merge_jars(jars, tmp / "dependencies.jar")
        site = tmp / "site-packages"
        site.mkdir()
        if python_deps:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "--target", str(site), *PLATFORM, "--no-deps", *PY_DEPS],
                capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"pip install failed: {(proc.stderr or proc.stdout)[-2000:]}")
            shutil.rmtree(site / "bin", ignore_errors=True)
        else:
            warnings.append("--no-python-deps: site-packages/ is empty")
        partial = out_dir / f".{ZIP_NAME}.partial"
        with zipfile.ZipFile(partial, "w") as zf:
            zf.writestr(zipfile.ZipInfo("main.py", FIXED_TIME), MAIN_PY, zipfile.ZIP_DEFLATED)
            for rel in JOB_FILES:
                _add(zf, REPO_ROOT / rel, rel)
            _add_tree(zf, REPO_ROOT / "tradeflow", "tradeflow/", (".py",))
            _add_tree(zf, REPO_ROOT / "sql", "sql/", (".sql",))
            _add(zf, udf_jar, "build/tradeflow-udf.jar")
            _add(zf, tmp / "dependencies.jar", DEPENDENCY_JAR)
            _add_tree(zf, site, "site-packages/")
            if connector_jar is None:
                group, artifact, version = CONNECTOR
                zf.writestr(zipfile.ZipInfo(MISSING_MARKER, FIXED_TIME),
                            f"This application zip lacks {group}:{artifact}:{version}.\n"
                            f"It cannot read or write Kinesis. Rebuild where Maven Central is "
                            f"reachable, or pass --connector-jar.\nReason: {warnings[0]}\n")
        target = out_dir / ZIP_NAME
        os.replace(partial, target)
    return target, warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Managed Flink application zip.")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--offline", action="store_true", help="do not try Maven Central")
    parser.add_argument("--connector-jar", type=Path, help="a flink-sql-connector-kinesis jar")
    parser.add_argument("--no-python-deps", action="store_true", help="skip pip (tests)")
    parser.add_argument("--require-connector", action="store_true",
                        help="fail (exit 2) instead of writing a zip without the connector")
    args = parser.parse_args(argv)
    path, warnings = build(args.out, offline=args.offline, connector_jar=args.connector_jar,
                           python_deps=not args.no_python_deps)
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    incomplete = any("connector" in w for w in warnings)
    if incomplete:
        print(f"WARNING: {path} was built WITHOUT the Kinesis SQL connector "
              f"({':'.join(CONNECTOR)}); it is marked with {MISSING_MARKER} and will not run "
              "on Managed Flink.", file=sys.stderr)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 2 if incomplete and args.require_connector else 0


if __name__ == "__main__":
    sys.exit(main())
