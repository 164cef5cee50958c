"""The Managed Flink application zip (jobs/package_flink_app.py), built offline: layout, the
flagged missing connector, the merged dependency jar, and runtime properties -> Kinesis DDL."""

from __future__ import annotations

import json
import zipfile

from jobs import package_flink_app as app


def test_offline_build_is_complete_but_flagged(tmp_path, capsys):
    assert app.main(["--out", str(tmp_path), "--offline", "--no-python-deps"]) == 0
    err = capsys.readouterr().err
    assert "WITHOUT the Kinesis SQL connector" in err
    assert app.main(["--out", str(tmp_path), "--offline", "--no-python-deps",
                     "--require-connector"]) == 2
    names = set(zipfile.ZipFile(tmp_path / app.ZIP_NAME).namelist())
    assert {"main.py", "jobs/signal_job.py", "jobs/udfs.py", "strategy.toml",
            "sql/tables/stock_prices.sql", "sql/connectors/kinesis/source.sql",
            "sql/connectors/kinesis/sink.sql", "tradeflow/sentiment/scorers.py",
            "build/tradeflow-udf.jar", app.DEPENDENCY_JAR, app.MISSING_MARKER} <= names
    assert not any(n.endswith(".java") or "__pycache__" in n for n in names)


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
    assert f"'stream.arn' = '{arn.format('stock-prices')}'" in prices
    assert "'aws.region' = 'eu-west-1'" in prices
    assert "'source.init.position' = 'TRIM_HORIZON'" in prices
    assert "'json.timestamp-format.standard' = 'ISO-8601'" in prices
    sink = next(s for s in ddl if s.startswith("CREATE TABLE trading_signals"))
    assert f"'stream.arn' = '{arn.format('trading-signals')}'" in sink and "${" not in sink
    dead = next(s for s in ddl if s.startswith("CREATE TABLE dead_letter"))
    assert f"'stream.arn' = '{arn.format('dead-letter')}'" in dead
    assert any(s.startswith("INSERT INTO dead_letter") for s in inserts)
    assert inserts
