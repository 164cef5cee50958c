"""A local Flink standalone cluster from the pyflink distribution, configured by the repo's
infra/flink/config.yaml, with its configuration, logs, pid files and checkpoints under the data
dir. Its servers listen on 127.0.0.1 only, on the configured ports (the README's "Flink" section
names the two kinds Flink 1.20 cannot bind so).

`stop` ends exactly the processes `start` recorded in its own pid directory, after checking that
each pid is still a Flink process started with this configuration directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyflink
import yaml

from tradeflow.config import Settings, port_range
from tradeflow.processes import alive, home_path, port_in_use

REPO_ROOT = Path(__file__).resolve().parents[1]
FLINK_CONFIG = REPO_ROOT / "infra" / "flink" / "config.yaml"
FLINK_HOME = Path(pyflink.__file__).parent
DAEMONS = ("standalonesession", "taskexecutor")
# Servers that take their port from the range: the JobManager's blob server and metric query
# service, the TaskManager's RPC, data exchange and metric query service.
RANGE_PORTS_NEEDED = 5


def flink_config(path: Path = FLINK_CONFIG) -> dict[str, Any]:
    """A Flink config.yaml as Flink reads it: nested keys joined with dots, YAML-typed values."""
    def flat(node: dict, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                out.update(flat(value, f"{name}."))
            elif name in out:
                raise ValueError(f"{path} sets {name} twice")
            else:
                out[name] = value
        return out

    return flat(yaml.safe_load(path.read_text()) or {})


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalCluster:
    home: Path  # <data dir>/flink
    port: int
    rpc_port: int = Settings.model_fields["flink_rpc_port"].default
    port_range: str = Settings.model_fields["flink_port_range"].default

    @classmethod
    def from_settings(cls, s: Settings) -> "LocalCluster":
        return cls(s.path("flink"), s.flink_rest_port, s.flink_rpc_port, s.flink_port_range)

    conf_dir = home_path("conf")
    log_dir = home_path("log")
    pid_dir = home_path("pids")
    checkpoint_dir = home_path("checkpoints")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- configuration -------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The repo's Flink configuration with this machine's ports, paths and interpreter."""
        # Flink 1.20's Prometheus reporter listens on every interface (it has no host option).
        conf = {k: v for k, v in flink_config().items() if not k.startswith("metrics.reporter.")}
        conf.update({
            "rest.port": self.port,
            "jobmanager.rpc.port": self.rpc_port,
            # Random ports unless given. Each server takes the first free port of the range (and
            # logs a bind error for each taken one it tried before).
            "blob.server.port": self.port_range,
            "taskmanager.rpc.port": self.port_range,
            "taskmanager.data.bind-port": self.port_range,
            "metrics.internal.query-service.port": self.port_range,
            "execution.checkpointing.dir": self.checkpoint_dir.as_uri(),
            # Python UDF workers must run in the same virtualenv as the job.
            "python.executable": sys.executable,
            "python.client.executable": sys.executable,
        })
        return conf

    def write_conf(self) -> Path:
        """Write config() as the conf dir's config.yaml, with Flink's logging configuration."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        # Flink 1.20 reads a legacy flink-conf.yaml in preference to config.yaml.
        (self.conf_dir / "flink-conf.yaml").unlink(missing_ok=True)
        header = (f"# Written by `tradeflow flink start` from {FLINK_CONFIG.relative_to(REPO_ROOT)}"
                  " at each start: edit that file or the TRADEFLOW_FLINK_* settings.\n")
        (self.conf_dir / "config.yaml").write_text(
            header + yaml.safe_dump(self.config(), sort_keys=False, width=1 << 16))
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties",
                     "logback.xml"):
            shutil.copy(FLINK_HOME / "conf" / name, self.conf_dir / name)
        return self.conf_dir

    def env(self) -> dict[str, str]:
        return {**os.environ, "FLINK_HOME": str(FLINK_HOME), "FLINK_CONF_DIR": str(self.conf_dir),
                "FLINK_LOG_DIR": str(self.log_dir), "FLINK_PID_DIR": str(self.pid_dir),
                "FLINK_IDENT_STRING": "tradeflow"}

    # --- processes -----------------------------------------------------------------------------
    def pids(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for daemon in DAEMONS:
            f = self.pid_dir / f"flink-tradeflow-{daemon}.pid"
            if f.exists():
                out[daemon] = [int(p) for p in f.read_text().split() if p.strip().isdigit()]
        return out

    def _ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return False
        return b"org.apache.flink" in cmdline and str(self.conf_dir).encode() in cmdline

    def running(self) -> list[int]:
        return [p for ps in self.pids().values() for p in ps if self._ours(p)]

    def start(self, timeout: float = 90.0) -> None:
        if self.running():
            if self.rest("/overview") is not None:
                return
            raise ClusterError(f"a tradeflow Flink cluster is starting or stuck (pids {self.running()})")
        for port, setting in ((self.port, "TRADEFLOW_FLINK_PORT"),
                              (self.rpc_port, "TRADEFLOW_FLINK_RPC_PORT")):
            if port_in_use(port):
                raise ClusterError(f"port {port} is in use (another Flink?). Stop it or set {setting}.")
        first, last = port_range(self.port_range)
        free = sum(not port_in_use(p) for p in range(first, last + 1))
        if free < RANGE_PORTS_NEEDED:
            raise ClusterError(f"{free} free ports in {self.port_range}, the cluster needs "
                               f"{RANGE_PORTS_NEEDED}: stop another cluster or set "
                               "TRADEFLOW_FLINK_PORT_RANGE.")
        self.write_conf()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for pidfile in self.pid_dir.glob("*.pid"):
            pidfile.unlink()  # nothing of ours is running: stale
        for script in ("jobmanager.sh", "taskmanager.sh"):
            subprocess.run(["bash", str(FLINK_HOME / "bin" / script), "start"], env=self.env(),
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            overview = self.rest("/overview")
            if overview and overview.get("taskmanagers", 0) >= 1:
                return
            recorded = [p for ps in self.pids().values() for p in ps]
            if len(recorded) < len(DAEMONS) or not all(map(alive, recorded)):
                self.stop()  # never leave half a cluster behind
                raise ClusterError(f"Flink exited during start-up; see the logs in {self.log_dir}")
            time.sleep(0.5)
        self.stop()
        raise ClusterError(f"Flink did not come up within {timeout:.0f}s; see {self.log_dir}")

    def stop(self, timeout: float = 15.0) -> list[int]:
        """SIGTERM our processes, SIGKILL whatever is left after `timeout`. Returns the pids ended."""
        mine = self.running()
        for pid in mine:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(self._ours(p) for p in mine):
            time.sleep(0.2)
        for pid in mine:
            if self._ours(pid):
                os.kill(pid, signal.SIGKILL)
        for pidfile in self.pid_dir.glob("*.pid"):
            pidfile.unlink()
        return mine

    # --- REST ----------------------------------------------------------------------------------
    def rest(self, path: str, timeout: float = 2.0) -> dict | None:
        """GET a Flink REST path; None when nothing answers."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
                return json.load(resp)
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            return None

    def status(self) -> dict:
        overview = self.rest("/overview")
        jobs = (self.rest("/jobs/overview") or {}).get("jobs", [])
        return {"url": self.url, "up": overview is not None, "pids": self.running(),
                "taskmanagers": (overview or {}).get("taskmanagers", 0),
                "slots_available": (overview or {}).get("slots-available", 0),
                "jobs": [{"id": j["jid"], "name": j["name"], "state": j["state"]} for j in jobs]}
