"""infra/flink/config.yaml, the one Flink configuration of tradeflow: its form, its settings, its
keys current in Flink 1.20 wherever they are used (the local cluster, the compose image, the
FlinkDeployment, the job), and what the local cluster makes of it: every server on 127.0.0.1,
on the configured ports."""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from jobs.cluster import FLINK_CONFIG, LocalCluster, flink_config

REPO = Path(__file__).resolve().parents[2]
ADDRESSES = {"jobmanager.rpc.address", "jobmanager.bind-host", "taskmanager.bind-host",
             "taskmanager.host", "rest.address", "rest.bind-address"}


class _UniqueKeys(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        assert len(keys) == len(set(keys)), f"a key set twice: {keys}"
        return super().construct_mapping(node, deep=deep)


def test_config_is_standard_yaml_with_flat_keys_each_once():
    doc = yaml.load(FLINK_CONFIG.read_text(), Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader
    assert not [k for k, v in doc.items() if isinstance(v, dict)], "keys are flat, as documented"
    assert flink_config() == doc
    assert not (REPO / "flink-conf.yaml").exists(), "one Flink configuration: infra/flink/config.yaml"


def test_production_settings():
    conf = flink_config()
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert conf["execution.checkpointing.externalized-checkpoint-retention"] == \
        "RETAIN_ON_CANCELLATION"
    assert conf["state.backend.type"] in ("hashmap", "rocksdb")
    assert conf["restart-strategy.type"] == "exponential-delay"
    assert conf["web.submit.enable"] is False
    assert {conf[k] for k in ADDRESSES} == {"127.0.0.1"}
    assert conf["metrics.reporter.prom.factory.class"] == \
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    # The official image ships the reporter in plugins/, as the wheel does.
    import pyflink

    plugins = Path(pyflink.__file__).parent / "plugins" / "metrics-prometheus"
    assert any(plugins.glob("flink-metrics-prometheus-*.jar"))


def test_local_cluster_listens_on_loopback_on_its_own_ports(tmp_path):
    cluster = LocalCluster(tmp_path / "flink", 18181, 16223, "6300-6325")
    conf = cluster.config()
    assert {k: conf[k] for k in ADDRESSES} == dict.fromkeys(ADDRESSES, "127.0.0.1")
    assert (conf["rest.port"], conf["jobmanager.rpc.port"]) == (18181, 16223)
    # Every server Flink would give a random port takes one from the range.
    for key in ("blob.server.port", "taskmanager.rpc.port", "taskmanager.data.bind-port",
                "metrics.internal.query-service.port"):
        assert conf[key] == "6300-6325", key
    # Flink 1.20's Prometheus reporter can only listen on every interface.
    assert not [k for k in conf if k.startswith("metrics.reporter.")]
    assert conf["execution.checkpointing.dir"] == cluster.checkpoint_dir.as_uri()
    assert conf["python.executable"] == conf["python.client.executable"] == sys.executable
    repo = flink_config()
    assert {k: v for k, v in conf.items() if k in repo} == {
        k: v for k, v in repo.items() if not k.startswith("metrics.reporter.")}


def test_write_conf_leaves_flink_only_the_standard_config(tmp_path):
    cluster = LocalCluster(tmp_path / "flink", 18181, 16223, "6300-6325")
    cluster.conf_dir.mkdir(parents=True)
    (cluster.conf_dir / "flink-conf.yaml").write_text("rest.port: 1\n")  # an earlier version's
    cluster.write_conf()
    assert not (cluster.conf_dir / "flink-conf.yaml").exists()
    assert flink_config(cluster.conf_dir / "config.yaml") == cluster.config()
    assert (cluster.conf_dir / "log4j.properties").exists()


def _flink_option_keys() -> tuple[set[str], set[str]]:
    """Keys of Flink 1.20's options (flink-dist and flink-python): the current ones, and the
    deprecated ones (deprecated options and deprecated fallback keys of current ones)."""
    import pyflink
    from py4j.protocol import Py4JJavaError
    from pyflink.java_gateway import get_gateway

    home = Path(pyflink.__file__).parent
    classes = []
    for jar in [*home.glob("lib/flink-dist-*.jar"), *home.glob("opt/flink-python-*.jar")]:
        with zipfile.ZipFile(jar) as z:
            classes += [n[:-6].replace("/", ".") for n in z.namelist()
                        if n.startswith("org/apache/flink/") and n.endswith("Options.class")
                        and "$" not in n and "/shaded/" not in n]
    jvm = get_gateway().jvm
    deprecated_annotation = jvm.java.lang.Class.forName("java.lang.Deprecated")
    option_class = jvm.java.lang.Class.forName("org.apache.flink.configuration.ConfigOption")
    current, deprecated = set(), set()
    for name in classes:
        try:
            cls = jvm.java.lang.Class.forName(name)
            fields = cls.getFields()
        except Py4JJavaError:  # needs a class only a connector or a plugin brings
            continue
        for field in fields:
            if not option_class.isAssignableFrom(field.getType()):
                continue
            option = field.get(None)
            old = (field.isAnnotationPresent(deprecated_annotation)
                   or cls.isAnnotationPresent(deprecated_annotation))
            (deprecated if old else current).add(option.key())
            fallbacks = option.fallbackKeys().iterator()
            while fallbacks.hasNext():
                key = fallbacks.next()
                if key.isDeprecated():
                    deprecated.add(key.getKey())
    return current, deprecated - current


@pytest.mark.flink
def test_every_key_is_current_in_flink_1_20(tmp_path):
    from tests.infra.test_compose import _image_rewrites

    current, deprecated = _flink_option_keys()
    assert {"execution.checkpointing.dir", "state.backend.type"} <= current
    assert {"state.checkpoints.dir", "state.savepoints.dir"} <= deprecated  # the check works
    k8s = next(d for d in yaml.safe_load_all((REPO / "infra" / "k8s" / "flink.yaml").read_text())
               if d and d["kind"] == "FlinkDeployment")["spec"]["flinkConfiguration"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    properties = compose["x-flink-env"]["FLINK_PROPERTIES"]
    sources = {
        "infra/flink/config.yaml": set(flink_config()),
        "the local cluster": set(LocalCluster(tmp_path, 18181, 16223, "6300-6325").config()),
        "the image": set(_image_rewrites()[0]) | _image_rewrites()[1],
        "FLINK_PROPERTIES": {line.partition(":")[0].strip()
                             for line in properties.splitlines() if line.strip()},
        # The operator's and its autoscaler's own options are not Flink's.
        "the FlinkDeployment": {k for k in k8s
                                if not k.startswith(("kubernetes.operator.", "job.autoscaler."))},
        "jobs/streaming_main.py": set(re.findall(r'extra_config\["([^"]+)"\]', (
            REPO / "jobs" / "streaming_main.py").read_text())),
    }
    for source, keys in sources.items():
        # A reporter's keys are its plugin's: factory.class and its arguments.
        keys = {k for k in keys if not k.startswith("metrics.reporter.")}
        assert not keys & deprecated, f"{source}: deprecated keys {keys & deprecated}"
        assert keys <= current, f"{source}: keys Flink 1.20 does not know {keys - current}"


@pytest.mark.parametrize("value, error", [
    ("6124", "first-last"), ("80-90", "1024 <= first"), ("6150-6140", "first <= last"),
    ("6100-6130", "TRADEFLOW_FLINK_RPC_PORT (6123) lies in TRADEFLOW_FLINK_PORT_RANGE")])
def test_the_port_range_setting_is_checked(monkeypatch, value, error):
    from pydantic import ValidationError

    from tradeflow.config import Settings

    monkeypatch.setenv("TRADEFLOW_FLINK_PORT_RANGE", value)
    with pytest.raises(ValidationError, match=re.escape(error)):
        Settings()
    monkeypatch.setenv("TRADEFLOW_FLINK_PORT_RANGE", " 6300 - 6325 ")
    assert Settings().flink_port_range == "6300-6325"
