"""Build one deployment zip per Lambda function: `make lambda-zips` -> build/lambda/<name>.zip.

Each zip holds the handler module (`lambdas/<name>.py`), the service's modules it runs on
(`SERVICE_MODULES`), the shared package `tradeflow/`, and the function's runtime dependencies
installed with `pip install --target` as Linux x86_64 wheels for CPython 3.11 (the `python3.11`
Lambda runtime), whatever machine builds it. Versions follow constraints.txt, so the zip runs
what the tests ran. Entries are sorted and time-stamped 1980-01-01, so an unchanged build gives
a byte-identical zip and Terraform's `source_code_hash` only changes when the code or a
dependency does.

Usage: python lambdas/package.py [--out build/lambda] [--only NAME] [--no-deps]
(`--no-deps` skips pip: code only, for quick checks and offline tests.)
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

REPO_ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO_ROOT / "constraints.txt"
PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp",
            "--python-version", "3.11", "--only-binary=:all:"]

# prometheus-client: every handler's runtime imports the engine, which imports its metrics.
INGEST_DEPS = ["pydantic", "pydantic-settings", "requests", "tenacity", "boto3",
               "prometheus-client"]
# Pins that differ from constraints.txt in the zips only: the python3.11 Lambda runtime runs on
# Amazon Linux 2 (glibc 2.26), and pandas 2.3.3 ships manylinux_2_28 wheels only. The market
# calendar is pandas' only user in a Lambda, and a patch release older serves it the same.
LAMBDA_PINS = {"pandas": "pandas==2.3.2"}
# The market calendar (tradeflow.trading.calendar) of the paper broker and the risk rules.
CALENDAR_DEPS = ["exchange-calendars", "pyluach", "korean-lunar-calendar", "toolz"]
EXECUTE_DEPS = INGEST_DEPS + ["slack-sdk", "rich", "tzdata"] + CALENDAR_DEPS

FUNCTIONS: dict[str, list[str]] = {
    "ingest_prices": INGEST_DEPS,
    "ingest_news": INGEST_DEPS,
    "execute_signals": EXECUTE_DEPS,
}
# Every handler goes through lambdas.runtime, which imports all of these; the other handlers and
# this builder stay out of the zip.
SERVICE_MODULES = ["__init__", "runtime", "ingest", "execute", "aws_secrets", "dynamo_store"]
SKIP_DIRS = {"__pycache__", "tests"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    pass


def _constraints(tmp: Path) -> Path:
    """constraints.txt with the pins the Lambda build replaces (see LAMBDA_PINS)."""
    lines = [ln for ln in CONSTRAINTS.read_text().splitlines()
             if ln.split("==")[0].strip().lower() not in LAMBDA_PINS]
    lines += list(LAMBDA_PINS.values())
    out = tmp / "constraints-lambda.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def _pip(target: Path, args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--target", str(target), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PackageError(f"pip install failed ({proc.returncode}):\n"
                           f"{(proc.stderr or proc.stdout).strip()[-3000:]}")


def _add_tree(zf: zipfile.ZipFile, root: Path, prefix: str = "") -> None:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or any(p in SKIP_DIRS for p in rel.parts) or path.suffix == ".pyc":
            continue
        _add_file(zf, path, prefix + rel.as_posix())


def _add_file(zf: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
    zf.writestr(info, path.read_bytes())


def build(name: str, out_dir: Path, with_deps: bool = True) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"lambda-{name}-") as tmp_str:
        tmp = Path(tmp_str)
        site = tmp / "site"
        site.mkdir()
        if with_deps:
            _pip(site, [*PLATFORM, "-c", str(_constraints(tmp)), *FUNCTIONS[name]])
            # Dist metadata and installer leftovers are not needed at run time.
            shutil.rmtree(site / "bin", ignore_errors=True)
        partial = out_dir / f".{name}.zip.partial"
        with zipfile.ZipFile(partial, "w") as zf:
            _add_tree(zf, site)
            _add_tree(zf, REPO_ROOT / "tradeflow", "tradeflow/")
            for module in sorted([*SERVICE_MODULES, name]):
                _add_file(zf, REPO_ROOT / "lambdas" / f"{module}.py", f"lambdas/{module}.py")
        target = out_dir / f"{name}.zip"
        os.replace(partial, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "lambda")
    parser.add_argument("--only", choices=sorted(FUNCTIONS), action="append")
    parser.add_argument("--no-deps", action="store_true", help="code only (no pip install)")
    args = parser.parse_args(argv)
    for name in args.only or list(FUNCTIONS):
        try:
            path = build(name, args.out, with_deps=not args.no_deps)
        except PackageError as err:
            print(f"error: {name}: {err}", file=sys.stderr)
            return 1
        size = path.stat().st_size / 1e6
        print(f"{path} ({size:.1f} MB{', code only' if args.no_deps else ''}); "
              f"handler lambdas.{name}.handler")
    return 0


if __name__ == "__main__":
    sys.exit(main())
