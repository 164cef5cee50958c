"""The Managed Flink application zip (jobs/package_flink_app.py), built offline: layout, the
flagged missing connector, the connector jars of jvm/pom.xml in the merged dependency jar, and
runtime properties -> Kinesis DDL."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from jobs import package_flink_app as app


def test_offline_build_without_the_connector_is_complete_but_flagged(tmp_path, capsys,
                                                                   monkeypatch):
    from tradeflow import jvm

    monkeypatch.setattr(jvm, "JARS_DIR", tmp_path / "no-jars")  # as before `make install`
    assert app.main(["--out", str(tmp_path), "--offline", "--no-python-deps"]) == 0
    err = capsys.readouterr().err
    assert "WITHOUT the Kinesis SQL connector" in err
    assert app.main(["--out", str(tmp_path), "--offline", "--no-python-deps",
                     "--require-connector"]) == 2
    zf = zipfile.ZipFile(tmp_path / app.ZIP_NAME)
    names = set(zf.namelist())
    assert {"main.py", "jobs/signal_job.py", "jobs/udfs.py", "strategy.toml",
            "sql/tables/stock_prices.sql", "sql/connectors/kinesis/source.sql",
            "sql/connectors/kinesis/sink.sql", "tradeflow/sentiment/scorers.py",
            "build/tradeflow-udf.jar", app.DEPENDENCY_JAR, app.MISSING_MARKER} <= names
    assert not any(n.endswith(".java") or "__pycache__" in n for n in names)
    # The marker names what is missing as jvm/pom.xml pins it.
    version = jvm.versions()["flink.kinesis.connector.version"]
    assert f"flink-connector-kinesis:{version}" in zf.read(app.MISSING_MARKER).decode()


@pytest.mark.integration
def test_the_connector_is_the_flink_kinesis_part_of_the_pom(tmp_path, capsys):
    """The dependency jar carries exactly what `make install` fetched for jvm/pom.xml's
    flink-kinesis profile; the packager pins no version of its own."""
    from tradeflow import jvm

    if not jvm.is_fetched("flink-kinesis"):
        pytest.skip("build/jars/flink-kinesis is not fetched: run `make install`")
    assert app.main(["--out", str(tmp_path), "--offline", "--no-python-deps",
                     "--require-connector"]) == 0
    assert "WITHOUT" not in capsys.readouterr().err
    zf = zipfile.ZipFile(tmp_path / app.ZIP_NAME)
    assert app.MISSING_MARKER not in zf.namelist()
    merged = zipfile.ZipFile(io.BytesIO(zf.read(app.DEPENDENCY_JAR)))
    names = set(merged.namelist())
    for jar in jvm.jars("flink-kinesis"):
        classes = {n for n in zipfile.ZipFile(jar).namelist() if n.endswith(".class")}
        assert classes <= names, jar.name
    version = jvm.versions()["flink.kinesis.connector.version"]
    assert any(j.name == f"flink-connector-kinesis-{version}.jar" for j in jvm.jars("flink-kinesis"))
    assert app.connector_coordinates() == [f"org.apache.flink:flink-connector-kinesis:{version}"]
    source = Path(app.__file__).read_text()
    assert not re.search(r"\d+\.\d+\.\d+-1\.\d+", source), "a connector version pinned outside jvm/pom.xml"
    assert "repo1.maven.org" not in source


def test_dependency_jar_merges_classes_and_service_files(tmp_path):
    a, b = tmp_path / "a.jar", tmp_path / "b.jar"
    svc = "META-INF/services/org.apache.flink.table.factories.Factory"
    with zipfile.ZipFile(a, "w") as z:
        z.writestr("io/tradeflow/udf/Sma.class", b"udf")
        z.writestr(svc, "x.A\n")
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("org/apache/flink/connector/kinesis/K.class", b"conn")
        z.writestr(svc, "org.apache.flink.connector.kinesis.table.KinesisDynamicTableFactory\n")
        z.writestr("META-INF/SIGNER.SF", b"sig")
    app.merge_jars([a, b], tmp_path / "out.jar")
    out = zipfile.ZipFile(tmp_path / "out.jar")
    assert out.read(svc).decode().split() == [
        "x.A", "org.apache.flink.connector.kinesis.table.KinesisDynamicTableFactory"]
    assert "META-INF/SIGNER.SF" not in out.namelist()
    assert {"io/tradeflow/udf/Sma.class", "org/apache/flink/connector/kinesis/K.class"} <= \
        set(out.namelist())


def test_properties_render_the_kinesis_connector(tmp_path, monkeypatch):
    arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/tradeflow-dev-{}"
    props = [{"PropertyGroupId": "kinesis.analytics.flink.run.options",
              "PropertyMap": {"python": "main.py", "jarfile": app.DEPENDENCY_JAR}},
             {"PropertyGroupId": "tradeflow", "PropertyMap": {
                 "aws_region": "eu-west-1", "prices_stream_arn": arn.format("stock-prices"),
                 "news_stream_arn": arn.format("market-news"),
                 "signals_stream_arn": arn.format("trading-signals"),
                 "dead_letter_stream_arn": arn.format("dead-letter"), "parallelism": "2"}}]
    path = tmp_path / "props.json"
    path.write_text(json.dumps(props))
    monkeypatch.setenv("TRADEFLOW_FLINK_PROPERTIES", str(path))
    monkeypatch.setattr(app, "AWS_PROPERTIES", tmp_path / "absent.json")
    job = app.job_from_properties(app.load_properties())
    assert job.parallelism == 2 and job.backend == "kinesis"
    ddl, inserts = job.statements()
    prices = next(s for s in ddl if s.startswith("CREATE TABLE stock_prices"))
    assert "'connector' = 'kinesis'" in prices
    assert "'stream' = 'tradeflow-dev-stock-prices'" in prices
    assert "'aws.region' = 'eu-west-1'" in prices
    assert "'scan.stream.initpos' = 'TRIM_HORIZON'" in prices
    assert "aws.endpoint" not in prices  # on AWS the connector finds the service itself
    assert "'json.timestamp-format.standard' = 'ISO-8601'" in prices
    sink = next(s for s in ddl if s.startswith("CREATE TABLE trading_signals"))
    assert "'stream' = 'tradeflow-dev-trading-signals'" in sink and "${" not in sink
    dead = next(s for s in ddl if s.startswith("CREATE TABLE dead_letter"))
    assert "'stream' = 'tradeflow-dev-dead-letter'" in dead
    assert any(s.startswith("INSERT INTO dead_letter") for s in inserts)
    assert inserts
