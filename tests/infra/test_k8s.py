"""Offline checks of the Kubernetes manifests in infra/k8s/.

No cluster is reachable here. Built-in kinds are validated (strictly: unknown fields are errors)
against the OpenAPI-derived JSON schemas shipped in the kubernetes-validate package. The
FlinkDeployment is a custom resource whose CRD schema no registry package ships as a schema
(the npm @kubernetes-models/flink package has it only compiled into JavaScript), so its fields
are checked here against the operator's documented v1beta1 spec (field names and enums as of
operator 1.14) and its pod template is validated as a Pod. Cross-references (selectors, Services,
ConfigMaps, claims, autoscaler targets) are checked too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra" / "k8s"
K8S_VERSION = "1.30.0"  # the oldest minor the manifests target (autoscaling/v2, policy/v1 ...)


def _docs() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


DOCS = _docs()


def _by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in DOCS if d["kind"] == kind}


def flink_string(value: object) -> str:
    """A YAML value as Flink reads it from a string (the FlinkDeployment's values are strings)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


# Keys of infra/flink/config.yaml the FlinkDeployment does not repeat: the operator sets the
# addresses of the pods it creates, the process sizes come from spec.jobManager/taskManager
# (checked below) and the starting parallelism from spec.job.parallelism.
NOT_REPEATED = {"jobmanager.rpc.address", "jobmanager.bind-host", "taskmanager.bind-host",
                "taskmanager.host", "rest.address", "rest.bind-address",
                "jobmanager.memory.process.size", "taskmanager.memory.process.size",
                "parallelism.default"}
# Keys the FlinkDeployment deliberately sets to a value of its own, with the reason.
OVERRIDES: dict[str, str] = {}


@pytest.fixture(scope="module")
def kv():
    return pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (a test "
                               "dependency) ships the Kubernetes schemas; install the test extras")


@pytest.mark.parametrize("doc", [d for d in DOCS if d["kind"] != "FlinkDeployment"],
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_builtin_resources_validate_against_the_kubernetes_schema(kv, doc):
    kv.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_wrong_field(kv):
    bad = yaml.safe_load(yaml.safe_dump(_by_kind("Deployment")["consumer"]))
    bad["spec"]["replica"] = 1
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert all(d["metadata"].get("namespace") == "tradeflow"
               for d in DOCS if d["kind"] != "Namespace")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.integration
def test_kustomize_renders_offline():
    proc = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    rendered = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert len(rendered) == len(DOCS)


# --- FlinkDeployment (custom resource) --------------------------------------------------------

SPEC_FIELDS = {"flinkConfiguration", "flinkVersion", "image", "imagePullPolicy", "ingress", "job",
               "jobManager", "logConfiguration", "mode", "podTemplate", "restartNonce",
               "serviceAccount", "taskManager"}
JOB_FIELDS = {"allowNonRestoredState", "args", "autoscalerResetNonce", "checkpointTriggerNonce",
              "entryClass", "initialSavepointPath", "jarURI", "parallelism",
              "savepointRedeployNonce", "savepointTriggerNonce", "state", "upgradeMode"}
COMPONENT_FIELDS = {"podTemplate", "replicas", "resource"}
RESOURCE_FIELDS = {"cpu", "ephemeralStorage", "memory"}


@pytest.fixture(scope="module")
def flink() -> dict:
    (deployment,) = _by_kind("FlinkDeployment").values()
    return deployment


def test_flink_deployment_fields_follow_the_operator_spec(flink):
    assert flink["apiVersion"] == "flink.apache.org/v1beta1"
    spec = flink["spec"]
    assert set(spec) <= SPEC_FIELDS
    assert spec["flinkVersion"] == "v1_20" and spec["mode"] in ("native", "standalone")
    assert spec["image"].startswith("tradeflow-flink") and spec["serviceAccount"]
    for component in ("jobManager", "taskManager"):
        assert set(spec[component]) <= COMPONENT_FIELDS
        assert set(spec[component]["resource"]) <= RESOURCE_FIELDS
        assert spec[component]["resource"]["memory"]
    job = spec["job"]
    assert set(job) <= JOB_FIELDS
    assert job["upgradeMode"] == "savepoint" and job["state"] == "running"
    assert all(isinstance(v, str) for v in spec["flinkConfiguration"].values()), \
        "flinkConfiguration values must be strings"


def test_flink_job_is_the_pyflink_entry_point_from_the_image(flink):
    job = flink["spec"]["job"]
    import pyflink

    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    jar = job["jarURI"].removeprefix("local:///opt/flink/opt/")
    assert (Path(pyflink.__file__).parent / "opt" / jar).is_file(), \
        f"{jar} is not the flink-python jar of this Flink version"
    args = job["args"]
    entry = args[args.index("-py") + 1]
    assert (REPO / entry.removeprefix("/opt/tradeflow/")).is_file()
    env = {e["name"]: e for e in flink["spec"]["podTemplate"]["spec"]["containers"][0]["env"]}
    assert env["TRADEFLOW_BACKEND"]["value"] == "kafka"
    assert int(env["TRADEFLOW_JOB_PARALLELISM"]["value"]) == job["parallelism"]


def test_flink_job_gets_what_the_local_kafka_run_gives_it(flink, monkeypatch, tmp_path):
    """Same entry point, Flink and settings as `tradeflow --backend kafka run`'s `job submit`; the
    connector jars are those of the image (built from jvm/pom.xml, see test_compose)."""
    from jobs.submit import JOB_NAME
    from tests.infra.local_job import entry_in_image, local_kafka_submit
    from tradeflow import jvm

    cmd, local = local_kafka_submit(monkeypatch, tmp_path)
    spec = flink["spec"]
    args = spec["job"]["args"]
    assert args[args.index("-py") + 1] == entry_in_image(cmd, REPO)
    env = {e["name"]: e for e in spec["podTemplate"]["spec"]["containers"][0]["env"]}
    assert set(local) <= set(env), f"settings the local run passes but the pods lack: " \
                                   f"{set(local) - set(env)}"
    assert env["TRADEFLOW_BACKEND"]["value"] == local["TRADEFLOW_BACKEND"]
    assert env["TRADEFLOW_JOB_NAME"]["value"] == local["TRADEFLOW_JOB_NAME"] == JOB_NAME
    ref = env["TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS"]["valueFrom"]["configMapKeyRef"]
    assert _by_kind("ConfigMap")[ref["name"]]["data"][ref["key"]]
    flink_version = jvm.versions()["flink.version"]
    assert spec["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{flink_version}.jar"
    assert spec["flinkVersion"] == "v" + "_".join(flink_version.split(".")[:2])
    # The image's Python runs the job and its workers, as the local cluster's does.
    conf = spec["flinkConfiguration"]
    assert conf["python.executable"] == conf["python.client.executable"] == args[
        args.index("-pyclientexec") + 1]


def test_flink_pod_template_validates_as_a_pod(kv, flink):
    template = flink["spec"]["podTemplate"]
    assert template["spec"]["containers"][0]["name"] == "flink-main-container"
    # The operator fills in the image; a Pod needs one to validate.
    pod = yaml.safe_load(yaml.safe_dump(template))
    pod["spec"]["containers"][0]["image"] = flink["spec"]["image"]
    kv.validate(pod, K8S_VERSION, strict=True)
    claims = {v["persistentVolumeClaim"]["claimName"] for v in template["spec"]["volumes"]}
    assert claims <= set(_by_kind("PersistentVolumeClaim"))


def test_flink_checkpoints_and_autoscaler(flink):
    conf = flink["spec"]["flinkConfiguration"]
    for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir",
                "high-availability.storageDir"):
        assert conf[key].startswith(("file:///flink-data/", "s3://"))
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["job.autoscaler.enabled"] == "true"
    assert 0 < float(conf["job.autoscaler.target.utilization"]) <= 1
    low, high = (int(conf[f"job.autoscaler.vertex.{m}-parallelism"]) for m in ("min", "max"))
    assert 1 <= low <= high <= int(conf["pipeline.max-parallelism"])


def test_flink_configuration_is_the_repo_flink_config(flink):
    """The operator writes its own configuration from flinkConfiguration, so it repeats
    infra/flink/config.yaml: every key of the file is there with the file's value, but for the
    keys the operator sets itself and the deliberate overrides."""
    from jobs.cluster import flink_config

    conf = flink["spec"]["flinkConfiguration"]
    assert all(isinstance(v, str) for v in conf.values()), "the operator takes strings"
    repo = flink_config()
    assert NOT_REPEATED <= set(repo) and set(OVERRIDES) <= set(repo)
    assert not NOT_REPEATED & set(conf), "a key the operator sets itself"
    for key, value in repo.items():
        if key in OVERRIDES:
            assert conf[key] != flink_string(value), f"{key} is no override any more"
        elif key not in NOT_REPEATED:
            assert conf.get(key) == flink_string(value), key
    spec = flink["spec"]
    assert spec["jobManager"]["resource"]["memory"] == repo["jobmanager.memory.process.size"]
    assert spec["taskManager"]["resource"]["memory"] == repo["taskmanager.memory.process.size"]


# --- services, scaling and wiring ---------------------------------------------------------------

def _workloads() -> dict[str, dict]:
    return {**_by_kind("Deployment"), **_by_kind("StatefulSet")}


def test_services_select_pods_and_ingress_reaches_the_dashboard():
    workloads = _workloads()
    labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads.values()]
    for name, svc in _by_kind("Service").items():
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= lab.items() for lab in labels), f"Service {name} selects nothing"
    for w in workloads.values():
        assert w["spec"]["selector"]["matchLabels"].items() <= \
            w["spec"]["template"]["metadata"]["labels"].items()
    (ingress,) = _by_kind("Ingress").values()
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = _by_kind("Service")[backend["name"]]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600


def test_references_to_configmaps_secrets_and_claims_resolve():
    configmaps, claims = set(_by_kind("ConfigMap")), set(_by_kind("PersistentVolumeClaim"))
    for name, w in {**_workloads(), **_by_kind("Job")}.items():
        pod = w["spec"]["template"]["spec"]
        for c in pod["containers"]:
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref:
                    assert ref["configMapRef"]["name"] in configmaps, name
                else:  # the Secret holds optional keys and is created by hand
                    assert ref["secretRef"].get("optional") is True, name
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in _by_kind("ConfigMap")[ref["name"]]["data"], name
        for v in pod.get("volumes", []):
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in claims, name
            if "configMap" in v:
                assert v["configMap"]["name"] in configmaps, name


def test_consumer_stays_single_and_the_dashboard_autoscales():
    consumer = _by_kind("Deployment")["consumer"]
    assert consumer["spec"]["replicas"] == 1
    assert consumer["spec"]["strategy"]["type"] == "Recreate"
    hpas = _by_kind("HorizontalPodAutoscaler")
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}
    assert "consumer" not in targets and "dashboard" in targets
    for hpa in hpas.values():
        target = _by_kind(hpa["spec"]["scaleTargetRef"]["kind"])[hpa["spec"]["scaleTargetRef"]["name"]]
        container = target["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"]["cpu"], "CPU scaling needs a CPU request"
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_topic_job_runs_the_compose_stacks_script():
    script = _by_kind("ConfigMap")["redpanda-topics"]["data"]["create-topics.sh"]
    assert script == (REPO / "infra" / "docker" / "create-topics.sh").read_text()
    redpanda = _by_kind("StatefulSet")["redpanda"]
    job = _by_kind("Job")["redpanda-topics"]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert int(env["REDPANDA_EXPECTED_BROKERS"]) == redpanda["spec"]["replicas"]
    service = _by_kind("Service")[redpanda["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None"
