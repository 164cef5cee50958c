"""The signal job as an AWS Managed Service for Apache Flink (1.20) application: packaging and
entry point.

`make flink-app-zip` (python jobs/package_flink_app.py) builds build/flink-app/tradeflow-flink-app.zip:

  main.py                        entry point (runs `run_application` below)
  jobs/, tradeflow/, sql/, strategy.toml   the job's Python code and SQL
  build/tradeflow-udf.jar        the JVM indicator UDFs (jobs.udf.ensure_udf_jar), which is
                                 where jobs.udf looks for it, so nothing is compiled on AWS
  site-packages/                 Python dependencies not in the Flink image (vaderSentiment)
  lib/pyflink-dependencies.jar   ONE jar, as the service's `jarfile` run option takes one: the
                                 UDF classes merged with the Kinesis connector and its runtime
                                 dependencies (service files joined): the jars of the
                                 `flink-kinesis` part of jvm/pom.xml, the one place the JVM parts
                                 are pinned (flink.kinesis.connector.version), as fetched into
                                 build/jars/flink-kinesis/ by `make install` (tradeflow.jvm)

A missing or outdated part is fetched first (`python -m tradeflow.jvm fetch flink-kinesis`,
needs `mvn`); with --offline nothing is fetched. When the part cannot be had, the build says so,
still writes the zip without the connector and marks it with CONNECTOR-JAR-MISSING.txt at its
root: such a zip cannot read or write Kinesis. `--connector-jar PATH` (repeatable) uses jars
fetched some other way instead.

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
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from tradeflow.config import get_job_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / "build" / "flink-app"
ZIP_NAME = "tradeflow-flink-app.zip"
CONNECTOR_PART = "flink-kinesis"  # the jvm/pom.xml profile (and build/jars/ folder)
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
        get_job_settings().flink_properties,
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
    from dataclasses import replace

    from jobs.signal_job import kinesis_job

    props = groups.get(PROPERTY_GROUP)
    if props is None:
        raise AppConfigError(f"property group {PROPERTY_GROUP!r} is missing")
    missing = [k for k in ("aws_region", "prices_stream_arn", "news_stream_arn",
                           "signals_stream_arn") if not props.get(k)]
    if missing:
        raise AppConfigError(f"property group {PROPERTY_GROUP!r} lacks {', '.join(missing)}")
    extra = {}
    connector_jars = None
    dep_jar = root / DEPENDENCY_JAR
    if dep_jar.exists():  # in the application zip: the UDFs and the connector in one jar
        extra["pipeline.jars"] = dep_jar.resolve().as_uri()
        connector_jars = []
        # Python workers import the job's UDF modules and their dependencies from these.
        extra["python.files"] = ",".join(str(root / d) for d in ("tradeflow", "jobs",
                                                                  "site-packages")
                                         if (root / d).exists())
    def stream(arn: str) -> str:  # the connector names streams, not ARNs
        return arn.rsplit("/", 1)[-1]

    job = kinesis_job(
        "streaming", props["aws_region"], parallelism=int(props.get("parallelism", "1")),
        name=props.get("job_name", "tradeflow-signals"),
        connector_params={"source_init_position": props.get("source_init_position",
                                                            "TRIM_HORIZON")},
        extra_config=extra, connector_jars=connector_jars,
        cluster_checkpoints=True)  # Managed Flink owns the checkpoints
    return replace(job, prices=stream(props["prices_stream_arn"]),
                   news=stream(props["news_stream_arn"]),
                   signals=stream(props["signals_stream_arn"]),
                   dead_letter=stream(props.get("dead_letter_stream_arn", "")))


def run_application(root: Path = REPO_ROOT) -> None:
    job = job_from_properties(load_properties(root=root), root)
    job.run(wait=False)  # the service runs the job; main.py only submits it


# --- build time -------------------------------------------------------------------------------
def connector_coordinates() -> list[str]:
    """group:artifact:version of what the pom's flink-kinesis profile depends on, versions
    resolved from the pom's properties (for messages and the missing-connector marker)."""
    import xml.etree.ElementTree as ET

    from tradeflow.jvm import POM, versions

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = versions()
    out = []
    for profile in ET.parse(POM).getroot().iterfind("m:profiles/m:profile", ns):
        if profile.findtext("m:id", namespaces=ns) != CONNECTOR_PART:
            continue
        for dep in profile.iterfind("m:dependencies/m:dependency", ns):
            version = dep.findtext("m:version", "", ns).strip()
            for key, value in props.items():
                version = version.replace("${" + key + "}", value)
            out.append(":".join([dep.findtext("m:groupId", "", ns).strip(),
                                 dep.findtext("m:artifactId", "", ns).strip(), version]))
    return out


def connector_jars_of_pom(offline: bool = False) -> tuple[list[Path], str]:
    """The connector's jars as `make install` fetched them (fetching them first unless offline).
    Returns (jars, "") or ([], why not)."""
    from tradeflow.jvm import JvmPartMissing, fetch, jars

    try:
        if not offline:
            fetch((CONNECTOR_PART,))
        found = jars(CONNECTOR_PART)
    except JvmPartMissing as err:
        return [], str(err)
    if not found:
        return [], f"the {CONNECTOR_PART} part holds no jar"
    return found, ""


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


def build(out_dir: Path = OUT_DIR, *, offline: bool = False,
          connector_jars: list[Path] | None = None,
          python_deps: bool = True) -> tuple[Path, list[str]]:
    """Write the application zip; returns its path and the warnings (empty = complete)."""
    from jobs.udf import ensure_udf_jar

    warnings: list[str] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flink-app-") as tmp_str:
        tmp = Path(tmp_str)
        udf_jar = ensure_udf_jar()
        connector = list(connector_jars or [])
        if not connector:
            connector, why = connector_jars_of_pom(offline)
            if not connector:
                warnings.append(f"no Kinesis connector: {why}")
        merge_jars([udf_jar, *connector], tmp / "dependencies.jar")
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
            if not connector:
                zf.writestr(zipfile.ZipInfo(MISSING_MARKER, FIXED_TIME),
                            f"This application zip lacks {', '.join(connector_coordinates())} "
                            f"(jvm/pom.xml, profile {CONNECTOR_PART}).\n"
                            f"It cannot read or write Kinesis. Rebuild where `mvn` reaches Maven "
                            f"Central, or pass --connector-jar.\nReason: {warnings[0]}\n")
        target = out_dir / ZIP_NAME
        os.replace(partial, target)
    return target, warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Managed Flink application zip.")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--offline", action="store_true",
                        help="do not run Maven: use the jars `make install` fetched, if any")
    parser.add_argument("--connector-jar", type=Path, action="append",
                        help="a Kinesis connector jar fetched some other way (repeatable; "
                             "replaces the flink-kinesis part of jvm/pom.xml)")
    parser.add_argument("--no-python-deps", action="store_true", help="skip pip (tests)")
    parser.add_argument("--require-connector", action="store_true",
                        help="fail (exit 2) instead of writing a zip without the connector")
    args = parser.parse_args(argv)
    path, warnings = build(args.out, offline=args.offline, connector_jars=args.connector_jar,
                           python_deps=not args.no_python_deps)
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    incomplete = any("connector" in w for w in warnings)
    if incomplete:
        print(f"WARNING: {path} was built WITHOUT the Kinesis SQL connector "
              f"({', '.join(connector_coordinates())}); it is marked with {MISSING_MARKER} and "
              "will not run on Managed Flink.", file=sys.stderr)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 2 if incomplete and args.require_connector else 0


if __name__ == "__main__":
    sys.exit(main())
