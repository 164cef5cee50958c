"""The services without the flink extra: a fresh virtualenv (no system site packages) gets the
project as the app image installs it (editable, `-c constraints.txt`, no extra), and runs them;
the commands that need Flink say in one line what to install. The install is uv's (from its cache;
the index is PyPI, as for `make install`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from uv import find_uv_bin

from lambdas import package
from tests.conftest import REPO_ROOT, eventually
from tradeflow.processes import free_port

# Starts servers, brokers, subprocesses or a browser.
pytestmark = pytest.mark.integration

FLINK_MISSING = "Error: this command needs Apache Flink: pip install 'tradeflow[flink]'"
# What only the flink extra brings (apache-flink and what it alone pulls in).
FLINK_ONLY = {"apache-flink", "apache-flink-libraries", "apache-beam", "pyarrow", "py4j", "pemja"}


class Venv:
    def __init__(self, root: Path, data: Path) -> None:
        self.bin, self.data = root / "bin", data
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TRADEFLOW_", "APCA_", "SLACK_"))
                    and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        self.env.update(TRADEFLOW_DATA_DIR=str(data), PIP_DISABLE_PIP_VERSION_CHECK="1",
                        PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}")

    def run(self, *args: str | Path, timeout: float = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        # cwd outside the checkout: neither its ./.env nor its modules on sys.path.
        return subprocess.run([str(a) for a in args], env=self.env, cwd=self.data.parent,
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    def tradeflow(self, *args: str | Path, timeout: float = 120,
                  stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(self.bin / "tradeflow", *args, timeout=timeout, stdin=stdin)

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.bin / "python", "-c", code)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    tmp = tmp_path_factory.mktemp("no-flink")
    # A copy: an install writes its build metadata into the source tree, which is shared.
    src = tmp / "src"
    shutil.copytree(REPO_ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", ".tradeflow", "*.egg-info", "__pycache__", ".pytest_cache",
        ".hypothesis", "tests", "docs", ".env"))
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True, timeout=120)
    v = Venv(tmp / "venv", tmp / "data")
    # uv: the same constraints resolved and installed as pip does for the image, in seconds
    # rather than a minute; compiled once here, not by each command's first run.
    ok(v.run(find_uv_bin(), "pip", "install", "--quiet", "--compile-bytecode",
             "--python", v.bin / "python", "-c", src / "constraints.txt", "-e", src, timeout=600))
    return v


def test_the_install_has_no_flink_and_is_consistent(venv):
    proc = venv.python("import pyflink")
    assert proc.returncode == 1 and "No module named 'pyflink'" in proc.stderr
    installed = {re.sub(r"[-_.]+", "-", name).lower() for name in ok(venv.python(
        "import importlib.metadata as m\nfor d in m.distributions(): print(d.name)")).split()}
    assert "tradeflow" in installed and not installed & FLINK_ONLY
    ok(venv.run(venv.bin / "python", "-m", "pip", "check"))
    # The Lambdas' zips need nothing from the extra either.
    lambda_deps = {dep.lower() for deps in package.FUNCTIONS.values() for dep in deps}
    assert lambda_deps <= installed, lambda_deps - installed


def test_service_commands_load(venv):
    assert ok(venv.tradeflow("--version")).startswith("tradeflow, version ")
    assert f"TRADEFLOW_DATA_DIR={venv.data}" in ok(venv.tradeflow("config"))
    listed = ok(venv.tradeflow("--help"))
    for command in ("produce", "consume", "dashboard", "audit", "topic", "flink", "backtest", "run"):
        assert f"  {command} " in listed, command
    for args in (["consume", "--help"], ["produce", "sim", "--help"], ["dashboard", "--help"],
                 ["audit", "--help"], ["kafka", "--help"], ["backtest", "--help"],
                 ["flink", "start", "--help"]):
        assert "Usage: tradeflow" in ok(venv.tradeflow(*args)), args
    scored = json.loads(ok(venv.tradeflow("sentiment", stdin="Apple beats earnings, shares surge\n")))
    assert scored["label"] == "positive"


def test_commands_that_need_flink_say_so_in_one_line(venv, tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("symbol,timestamp,open,high,low,close,volume\n")
    for args in (["flink", "start"], ["flink", "status"], ["flink", "stop"], ["job", "submit"],
                 ["backtest", "--prices", prices, "--out", tmp_path / "out"], ["parity"], ["run"]):
        proc = venv.tradeflow(*args)
        assert (proc.returncode, proc.stdout, proc.stderr.strip()) == (1, "", FLINK_MISSING), args


def test_produce_consume_and_dashboard_run_without_flink(venv):
    ok(venv.tradeflow("produce", "sim", "--symbols", "AAPL,MSFT", "--bars", "5", "--speed", "0",
                      "--seed", "3", "--start", "2024-03-05T15:00:00Z"))
    bars = [json.loads(line) for line in ok(venv.tradeflow(
        "topic", "read", "stock-prices", "--from-beginning")).splitlines()]
    bars = [b for b in bars if "symbol" in b]
    assert len(bars) == 10 and {b["symbol"] for b in bars} == {"AAPL", "MSFT"}

    # What the job would write: a signal on the first AAPL bar.
    first = next(b for b in bars if b["symbol"] == "AAPL")
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    sig = {"v": 1, "signal_id": "no-flink-1", "symbol": "AAPL", "action": "BUY",
           "strength": "STRONG", "confidence": 0.8, "price": first["close"],
           "bar_time": first["event_time"], "emitted_at": now, "indicators": {"rsi_14": 27.5},
           "sentiment": 0.4, "reason": "install test", "strategy": "confluence",
           "strategy_version": "1"}
    ok(venv.python(
        "from tradeflow.config import SIGNALS\n"
        "from tradeflow.topics import Record, open_backend\n"
        "with open_backend() as b:\n"
        f"    b.publish(SIGNALS, [Record('AAPL', {json.dumps(sig).encode()!r})])\n"))
    consume = venv.tradeflow("consume", "--once", "--broker", "paper")
    ok(consume)
    assert "approved 1" in consume.stderr, consume.stderr  # its summary goes to stderr
    orders = [json.loads(line) for line in ok(venv.tradeflow(
        "topic", "read", "orders", "--from-beginning")).splitlines()]
    assert orders and {o["signal_id"] for o in orders if "signal_id" in o} == {"no-flink-1"}
    assert "no-flink-1" in ok(venv.tradeflow("audit", "list"))

    port, log = free_port(), venv.data.parent / "dashboard.log"
    with open(log, "wb") as out_:
        dash = subprocess.Popen([str(venv.bin / "tradeflow"), "dashboard", "--port", str(port)],
                                env=venv.env, cwd=venv.data.parent, stdout=out_,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def healthy() -> bool:
            assert dash.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        eventually(healthy, "the dashboard answered /healthz", timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    finally:
        os.killpg(dash.pid, signal.SIGTERM)
        dash.wait(timeout=30)
