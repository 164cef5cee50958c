"""Offline checks of the compose stack: docker-compose.yml, infra/docker/, .env.example and what
the Flink image makes of the repo's infra/flink/config.yaml.

No Docker engine runs here, so nothing is built or started. The compose file is validated
against the Compose Specification's JSON schema after the same ${VAR:-default} interpolation
compose applies; the schema is the copy shipped in the check-jsonschema package
(check_jsonschema/builtin_schemas/vendor/compose-spec.json, from github.com/compose-spec/
compose-spec, Apache-2.0), read from the installed package, never from the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradeflow.config import TOPICS, get_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKER_DIR = REPO / "infra" / "docker"
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def interpolate(node: Any, env: dict[str, str], missing: set[str]) -> Any:
    """Compose's interpolation of ${VAR}, ${VAR:-default} and ${VAR-default} in values."""
    if isinstance(node, dict):
        return {k: interpolate(v, env, missing) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, missing) for v in node]
    if not isinstance(node, str):
        return node

    def sub(m: re.Match) -> str:
        name, op, default = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        if value is None:
            missing.add(name)
            return ""
        return value

    return VAR.sub(sub, node.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    missing: set[str] = set()
    doc = interpolate(raw, env_example(), missing)
    assert not missing, f"variables with neither a default nor a value in .env.example: {missing}"
    return doc


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (a test dependency) ships "
                        "the compose-spec schema; install the test extras")
    from importlib.resources import files

    return json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json")
                      .read_text())


def test_compose_file_validates_against_the_compose_spec(compose, compose_schema):
    import jsonschema

    validator = jsonschema.validators.validator_for(compose_schema)(compose_schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    # The schema really is applied: a misspelt service key is refused.
    broken = json.loads(json.dumps(compose))
    broken["services"]["dashboard"]["helthcheck"] = {}
    assert not validator.is_valid(broken)


def test_every_variable_is_documented_in_env_example(raw):
    used = set(VAR.findall(COMPOSE.read_text()))
    documented = set(env_example()) | {"COMPOSE_PROFILES"}
    assert {name for name, _, _ in used} <= documented


def test_env_example_carries_no_secret_values():
    for key, value in env_example().items():
        if re.search(r"KEY|SECRET|TOKEN|PASSWORD", key):
            assert value == "", f"{key} must stay empty in .env.example"


def _dockerignore(dockerfile: Path) -> list[str]:
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.exists(), f"{ignore} keeps .venv and local state out of the build context"
    return [p for p in ignore.read_text().splitlines() if p.strip() and not p.startswith("#")]


def _copied_sources(dockerfile: Path) -> list[str]:
    """Sources of the COPY instructions that take files from the build context."""
    out = []
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            out += [p for p in parts[1:-1] if not p.startswith("--")]
    return out


def test_build_contexts_dockerfiles_and_copied_files_exist(compose):
    built = {name: svc["build"] for name, svc in compose["services"].items() if "build" in svc}
    assert {"jobmanager", "taskmanager", "job-submit", "consumer", "dashboard",
            "producer-sim"} <= set(built)
    for name, build in built.items():
        context = (REPO / build["context"]).resolve()
        dockerfile = context / build["dockerfile"]
        assert context == REPO and dockerfile.is_file(), name
        ignored = _dockerignore(dockerfile)
        for src in _copied_sources(dockerfile):
            if src == ".":
                continue
            assert (context / src).exists(), f"{dockerfile.name} copies missing {src}"
            assert src not in ignored, f"{src} is excluded by the .dockerignore"
        assert ".venv" in ignored and ".env" in ignored


def test_ports_are_well_formed_unique_and_expected(compose):
    published: dict[str, str] = {}
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            parts = port.split(":")
            host_ip = parts[0] if len(parts) == 3 else ""
            host, container = parts[-2], parts[-1]
            assert host.isdigit() and container.isdigit(), f"{name}: {port}"
            assert host not in published, f"host port {host} used by {published.get(host)} and {name}"
            published[host] = name
            assert host_ip in ("127.0.0.1", "0.0.0.0", "")
    assert published["8081"] == "jobmanager" and published["8000"] == "dashboard"
    assert published["8080"] == "console"


def test_volumes_are_declared_and_bind_mounts_exist(compose):
    declared = set(compose.get("volumes", {}))
    used = set()
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared
    # Checkpoints survive `docker compose down` and are shared by every Flink container.
    for name in ("jobmanager", "taskmanager", "job-submit"):
        assert any(v.startswith("flink-checkpoints:/opt/flink/checkpoints")
                   for v in compose["services"][name]["volumes"])


def test_dependencies_health_checks_and_restart_policies(compose):
    services = compose["services"]
    for name, svc in services.items():
        for dep, how in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            # A default service must not need one that only a profile starts.
            if not svc.get("profiles"):
                assert not services[dep].get("profiles"), f"{name} needs profiled {dep}"
            if how.get("condition") == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no health check"
            if how.get("condition") == "service_completed_successfully":
                assert services[dep]["restart"] in ("no", "on-failure"), dep
        assert svc.get("restart") in ("unless-stopped", "on-failure", "always"), name
    for name in ("redpanda-0", "jobmanager", "taskmanager", "dashboard"):
        assert services[name]["healthcheck"]["test"], name
    assert services["redpanda-1"]["profiles"] == services["redpanda-2"]["profiles"] == ["cluster"]


def test_app_services_run_tradeflow_on_the_kafka_backend(compose):
    pyproject = (REPO / "pyproject.toml").read_text()
    for name in ("producer-sim", "producer-alpaca", "consumer", "dashboard"):
        svc = compose["services"][name]
        assert svc["environment"]["TRADEFLOW_BACKEND"] == "kafka"
        assert svc["environment"]["TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS"] == "redpanda-0:9092"
        command = svc["command"][0]
        assert re.search(rf"^{command} = ", pyproject, re.M), command
    submit = compose["services"]["job-submit"]
    assert submit["environment"]["TRADEFLOW_BACKEND"] == "kafka"
    script = submit["command"][-1].replace("/opt/tradeflow/", "")
    assert (REPO / script).is_file()


def _topic_specs(script: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^\s+"([a-z-]+)\s+(\d+)\s+\d+"', script, re.M)}


def test_topic_init_creates_every_topic_of_the_contracts():
    specs = _topic_specs((DOCKER_DIR / "create-topics.sh").read_text())
    assert set(specs) == set(TOPICS)
    assert all(n >= 1 for n in specs.values())


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.integration
def test_shell_scripts_parse():
    for script in DOCKER_DIR.glob("*.sh"):
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def _image_conf_args() -> list[str]:
    """The arguments the Flink image gives config-parser-utils.sh to rewrite the repo's config."""
    (step,) = [s for s in _dockerfile_instructions(DOCKER_DIR / "flink.Dockerfile")
               if "config-parser-utils.sh" in s]
    words = shlex.split(step.split("config-parser-utils.sh", 1)[1].lstrip('"').split(";", 1)[0])
    assert words[:3] == ["$FLINK_HOME/conf", "$FLINK_HOME/bin", "$FLINK_HOME/lib"]
    return words[3:]


def _image_rewrites() -> tuple[dict[str, str], set[str]]:
    """What the image sets (-D key=value) and removes (-rmKey key) in the repo's config."""
    args, sets, removes = _image_conf_args(), {}, set()
    for flag, arg in zip(args[::2], args[1::2]):
        assert flag in ("-D", "-rmKey"), flag
        if flag == "-D":
            key, _, value = arg.partition("=")
            sets[key] = value
        else:
            removes.add(arg)
    return sets, removes


def test_flink_image_opens_every_loopback_address_of_the_config(compose):
    """The repo's config binds loopback (for the local cluster): the image must rewrite every
    such key, or a container would listen where no other container reaches it."""
    from jobs.cluster import flink_config

    conf = flink_config()
    sets, removes = _image_rewrites()
    loopback = {k for k, v in conf.items() if v == "127.0.0.1"}
    # The entrypoint sets the JobManager's address from JOB_MANAGER_RPC_ADDRESS.
    assert loopback - {"jobmanager.rpc.address"} == {
        k for k, v in sets.items() if v == "0.0.0.0"} | removes
    assert (removes | set(sets)) - {"execution.checkpointing.dir",
                                    "execution.checkpointing.savepoint-dir", "python.executable",
                                    "python.client.executable"} <= set(conf)
    for name in ("jobmanager", "taskmanager", "job-submit"):
        assert compose["services"][name]["environment"]["JOB_MANAGER_RPC_ADDRESS"] == "jobmanager"
    # The volumes the checkpoints and savepoints go to.
    for key, mount in (("execution.checkpointing.dir", "/opt/flink/checkpoints"),
                       ("execution.checkpointing.savepoint-dir", "/opt/flink/savepoints")):
        assert sets[key] == f"file://{mount}"
        assert any(v.endswith(":" + mount) for v in compose["services"]["jobmanager"]["volumes"])
    assert sets["python.executable"] == sets["python.client.executable"] == "/opt/venv/bin/python"


@pytest.mark.flink
@pytest.mark.integration
def test_flink_image_config_rewrite_with_flinks_own_tool(tmp_path):
    """The image's rewrite, run with the same Flink 1.20 tool on a copy of the repo's config:
    the addresses opened, the container's directories and interpreter set, the rest unchanged."""
    import pyflink

    from jobs.cluster import FLINK_CONFIG, flink_config

    home = Path(pyflink.__file__).parent
    shutil.copy(FLINK_CONFIG, tmp_path / "config.yaml")
    proc = subprocess.run(["bash", str(home / "bin" / "config-parser-utils.sh"), str(tmp_path),
                           str(home / "bin"), str(home / "lib"), *_image_conf_args()],
                          env={**os.environ, "FLINK_HOME": str(home)}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sets, removes = _image_rewrites()
    image, repo = flink_config(tmp_path / "config.yaml"), flink_config()
    assert {k: str(v) for k, v in image.items() if k in sets} == sets
    assert not removes & set(image)
    assert {k: v for k, v in image.items() if k not in sets} == {
        k: v for k, v in repo.items() if k not in sets and k not in removes}


def test_flink_properties_are_knobs_not_copies_of_the_config(compose):
    """FLINK_PROPERTIES carries only what the stack tunes by variable; the rest is the file's."""
    for name in ("jobmanager", "taskmanager"):
        props = compose["services"][name]["environment"]["FLINK_PROPERTIES"]
        keys = {line.partition(":")[0].strip() for line in props.splitlines() if line.strip()}
        assert keys == {"taskmanager.numberOfTaskSlots", "parallelism.default"}


# --- the Flink image's JVM parts: jvm/pom.xml, as in a checkout ----------------------------------

def _dockerfile_instructions(dockerfile: Path) -> list[str]:
    """Instructions with their continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            if current.strip():
                out.append(current.strip())
            current = ""
    return out


def test_flink_image_fetches_its_connector_jars_from_jvm_pom_like_make_install():
    """The image gets the Kafka connector as a checkout does: `python -m tradeflow.jvm fetch`
    over jvm/pom.xml (the one place versions are pinned) into build/jars/flink-kafka/, which is
    where SignalJob takes pipeline.jars from; no version or download of its own."""
    from tradeflow import jvm

    dockerfile = DOCKER_DIR / "flink.Dockerfile"
    text = dockerfile.read_text()
    steps = _dockerfile_instructions(dockerfile)
    # The same command `make install` runs, for the part the job on Kafka loads.
    assert re.search(r"^\s+\$\(BIN\)/python -m tradeflow\.jvm fetch\s*$",
                     (REPO / "Makefile").read_text(), re.M)
    fetch = [s for s in steps if s.startswith("RUN") and "-m tradeflow.jvm fetch flink-kafka" in s]
    assert len(fetch) == 1
    # ... in a stage that has Maven, copied to where tradeflow.jvm looks in the image
    # (the repo is /opt/tradeflow there: `WORKDIR /opt/tradeflow` + `COPY . .`).
    part = "/opt/tradeflow/" + jvm.part_dir("flink-kafka").relative_to(jvm.REPO_ROOT).as_posix()
    stage = re.search(r"^FROM \$\{MAVEN_IMAGE\} AS (\w+)$", text, re.M)
    assert stage and re.search(r"^ARG MAVEN_IMAGE=maven:\S+$", text, re.M)
    assert f"COPY --from={stage.group(1)} {part} {part}" in steps
    # jvm/pom.xml goes into the build context; a local build/ (stale jars) does not.
    ignored = _dockerignore(dockerfile)
    assert "build" in ignored and not {"jvm", "jvm/pom.xml", "jvm/"} & set(ignored)
    # No version, Maven URL or download of its own; nothing added to Flink's own lib/ (the job
    # ships the connector on pipeline.jars: a second copy on lib/ would clash with it).
    assert not re.search(r"\d+\.\d+\.\d+-1\.\d+", text), "a connector version pinned outside jvm/pom.xml"
    assert "repo1.maven.org" not in text and not re.search(r"\b(wget|curl)\b", text)
    assert not any("/opt/flink/lib" in s for s in steps if s.startswith(("RUN", "COPY", "ADD")))


def test_flink_image_and_pyflink_are_the_flink_of_jvm_pom():
    from tradeflow import jvm

    flink = jvm.versions()["flink.version"]
    text = (DOCKER_DIR / "flink.Dockerfile").read_text()
    assert re.search(rf"^ARG FLINK_IMAGE=flink:{re.escape(flink)}-java17$", text, re.M)
    assert f'"apache-flink=={flink}"' in (REPO / "pyproject.toml").read_text()
    import pyflink

    assert (Path(pyflink.__file__).parent / "opt" / f"flink-python-{flink}.jar").is_file()


def test_the_job_ships_the_jars_the_image_fetches():
    """The folder the image fills is exactly what the job on Kafka puts on pipeline.jars."""
    from jobs.signal_job import kafka_job
    from tradeflow import jvm

    if not jvm.is_fetched("flink-kafka"):
        pytest.skip("build/jars/flink-kafka is not fetched: run `make install`")
    shipped = kafka_job("streaming", "redpanda-0:9092").job_jars()
    assert {j.parent for j in shipped[1:]} == {jvm.part_dir("flink-kafka")}
    assert shipped[1:] == jvm.jars("flink-kafka")
    version = jvm.versions()["flink.kafka.connector.version"]
    assert f"flink-connector-kafka-{version}.jar" in {j.name for j in shipped}


def test_compose_job_gets_what_the_local_kafka_run_gives_it(compose, monkeypatch, tmp_path):
    """Same entry point and settings as `tradeflow --backend kafka run`'s `job submit`."""
    from jobs import submit
    from tests.infra.local_job import entry_in_image, local_kafka_submit

    cmd, local = local_kafka_submit(monkeypatch, tmp_path)
    job = compose["services"]["job-submit"]
    env = job["environment"]
    assert set(local) <= set(env), f"settings the local run passes but compose does not: " \
                                   f"{set(local) - set(env)}"
    assert env["TRADEFLOW_BACKEND"] == local["TRADEFLOW_BACKEND"] == "kafka"
    assert env["TRADEFLOW_JOB_NAME"] == local["TRADEFLOW_JOB_NAME"] == submit.JOB_NAME
    assert env["TRADEFLOW_JOB_PARALLELISM"] == env["FLINK_PROPERTIES"].split(
        "parallelism.default:")[1].split()[0]
    # The submitter runs the same `flink run` of the same entry point.
    spec = importlib.util.spec_from_file_location("submit_job_entry", DOCKER_DIR / "submit_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.flink_run is submit.flink_run
    assert entry_in_image(cmd, REPO) == "/opt/tradeflow/jobs/streaming_main.py"


# --- the job submitter (infra/docker/submit_job.py), against a stub Flink REST API -------------

class _FlinkStub(BaseHTTPRequestHandler):
    jobs: list[dict] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = {"/overview": {"slots-available": 2, "taskmanagers": 1},
                "/jobs/overview": {"jobs": self.jobs}}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(json.dumps(body or {}).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def submitter(monkeypatch, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _FlinkStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = importlib.util.spec_from_file_location("submit_job", DOCKER_DIR / "submit_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("FLINK_JOBMANAGER", f"127.0.0.1:{server.server_port}")
    monkeypatch.setenv("CHECKPOINT_DIR", str(tmp_path))
    calls: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw["env"]))
                        or subprocess.CompletedProcess(cmd, 0))
    yield module, calls, tmp_path
    server.shutdown()


def test_submitter_leaves_a_running_job_alone(submitter, monkeypatch):
    module, calls, _ = submitter
    monkeypatch.setattr(_FlinkStub, "jobs", [{"jid": "x", "name": "tradeflow-signals",
                                              "state": "RUNNING"}])
    assert module.main() == 0 and calls == []


def test_submitter_resumes_from_the_newest_checkpoint(submitter, monkeypatch):
    module, calls, ckpt = submitter
    monkeypatch.setattr(_FlinkStub, "jobs", [{"jid": "y", "name": "tradeflow-signals",
                                              "state": "CANCELED"}])
    mine = module.kafka_job("streaming", get_settings().kafka_servers,
                            name="tradeflow-signals").checkpoints_under(ckpt) / "job1" / "chk-7"
    older = ckpt / "job-0123456789abcdef" / "job0" / "chk-9"  # an earlier version of the job
    for chk in (mine, older):
        chk.mkdir(parents=True)
        (chk / "_metadata").write_bytes(b"x")
    os.utime(mine / "_metadata", (1, 1))  # the older version's checkpoint is the newest file
    assert module.main() == 0
    ((cmd, env),) = calls
    assert cmd[cmd.index("run") + 1] == "--detached"
    assert cmd[cmd.index("--fromSavepoint") + 1] == str(mine)
    assert env["TRADEFLOW_CHECKPOINTS_DIR"] == str(ckpt)  # where streaming_main writes
    assert env["TRADEFLOW_JOB_NAME"] == "tradeflow-signals"
    assert cmd[cmd.index("--python") + 1].endswith("jobs/streaming_main.py")
    assert cmd[cmd.index("--pyExecutable") + 1] == sys.executable
