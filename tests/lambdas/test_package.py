"""lambdas/package.py without the network (--no-deps): each zip holds its handler, the service's
modules and the shared package, and nothing of the other services, the tools or the tests; the
handler imports from the zip alone; builds are byte-identical."""

from __future__ import annotations

import pytest

import subprocess
import sys
import zipfile

from lambdas import package

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

# Run with only the zip ahead of the installed dependencies: every `lambdas` or `tradeflow` module
# the handler loads must come from the zip, and no other service may load at all.
IMPORT_CHECK = """
import importlib, sys
zip_path, name = sys.argv[1], sys.argv[2]
sys.path.insert(0, zip_path)
importlib.import_module(f"lambdas.{name}")
ours = ("lambdas", "tradeflow")
others = ("consumer", "producers", "jobs", "dashboard", "backtest", "tools", "tests")
outside = [m for m, mod in sys.modules.items() if m.split(".")[0] in ours
           and getattr(mod, "__file__", None) and not mod.__file__.startswith(zip_path)]
services = [m for m in sys.modules if m.split(".")[0] in others]
assert not outside and not services, (outside, services)
"""


def test_zips_hold_handler_service_modules_and_shared_package_only(tmp_path):
    assert package.main(["--out", str(tmp_path), "--no-deps"]) == 0
    for name in package.FUNCTIONS:
        zip_path = tmp_path / f"{name}.zip"
        names = zipfile.ZipFile(zip_path).namelist()
        lambdas = {n for n in names if n.startswith("lambdas/")}
        assert lambdas == {f"lambdas/{m}.py" for m in [*package.SERVICE_MODULES, name]}
        assert "lambdas/runtime.py" in lambdas and "lambdas/dynamo_store.py" in lambdas
        assert "tradeflow/trading/engine.py" in names
        assert not any(n.startswith(("consumer/", "producers/", "tests/", "jobs/", "tools/"))
                       or n == "lambdas/package.py" or ".pyc" in n for n in names)
        proc = subprocess.run([sys.executable, "-I", "-c", IMPORT_CHECK, str(zip_path), name],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
    first = (tmp_path / "ingest_news.zip").read_bytes()
    package.main(["--out", str(tmp_path), "--no-deps", "--only", "ingest_news"])
    assert (tmp_path / "ingest_news.zip").read_bytes() == first
