"""The signal job's SQL on the kafka backend (sql/connectors/kafka/).

The kafka tables are the file backend's table definitions (sql/tables/) with another WITH clause,
so the two cannot drift. The tables' DDL is executed in a real TableEnvironment (Flink parses it
and registers the tables). Creating the views on top and planning the INSERT need the Kafka
connector's table factory, whose jar cannot be downloaded here: that test runs when
flink-sql-connector-kafka-*.jar is found in $TRADEFLOW_CONNECTOR_JARS or in pyflink/lib, and says
why it skips otherwise.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from jobs.signal_job import file_job, kafka_job
from tradeflow.config import DEAD_LETTER, NEWS, PRICES, SIGNALS

WITH = re.compile(r"\)\s*WITH\s*\((.*)\)\s*$", re.S)
OPTION = re.compile(r"'([^']+)'\s*=\s*'([^']*)'")


def _options(statement: str) -> dict[str, str]:
    return dict(OPTION.findall(WITH.search(statement).group(1)))


def _without_with(statement: str) -> str:
    return WITH.sub(")", statement)


def test_kafka_tables_are_the_file_tables_with_another_connector(tmp_path):
    kafka_ddl, kafka_inserts = kafka_job("streaming", "broker:9092").statements()
    file_ddl, file_inserts = file_job("streaming", tmp_path).statements()
    assert [_without_with(s) for s in kafka_ddl] == [_without_with(s) for s in file_ddl]
    assert kafka_inserts == file_inserts


def test_kafka_connector_options():
    ddl, _ = kafka_job("streaming", "a:9092,b:9092", name="job-x").statements()
    tables = {re.search(r"CREATE TABLE (\w+)", s).group(1): _options(s)
              for s in ddl if s.startswith("CREATE TABLE")}
    for table, topic in (("stock_prices", PRICES), ("market_news", NEWS)):
        src = tables[table]
        assert src["connector"] == "kafka" and src["topic"] == topic
        assert src["properties.bootstrap.servers"] == "a:9092,b:9092"
        assert src["properties.group.id"] == "job-x"
        assert src["scan.startup.mode"] == "group-offsets"
        assert src["properties.isolation.level"] == "read_committed"
        assert src["value.format"] == "json"
        assert src["value.json.timestamp-format.standard"] == "ISO-8601"
    sink = tables["trading_signals"]
    assert sink["topic"] == SIGNALS
    assert sink["sink.delivery-guarantee"] == "exactly-once"
    assert sink["sink.transactional-id-prefix"] == "job-x-trading-signals"
    assert (sink["key.format"], sink["key.fields"]) == ("raw", "symbol")
    assert sink["value.json.timestamp-format.standard"] == "ISO-8601"
    dead = tables["dead_letter"]  # keyed like the services' dead letters: by component
    assert dead["topic"] == DEAD_LETTER and dead["key.fields"] == "component"
    assert dead["sink.transactional-id-prefix"] == "job-x-dead-letter"


def test_bounded_kafka_source_stops_at_the_latest_offsets():
    ddl, _ = kafka_job("bounded", "broker:9092").statements()
    src = _options(next(s for s in ddl if "CREATE TABLE stock_prices" in s))
    assert src["scan.bounded.mode"] == "latest-offset"
    assert src["scan.startup.mode"] == "earliest-offset"


def _connector_jar() -> Path | None:
    import pyflink

    dirs = [Path(os.environ["TRADEFLOW_CONNECTOR_JARS"])] if os.environ.get(
        "TRADEFLOW_CONNECTOR_JARS") else []
    dirs.append(Path(pyflink.__file__).parent / "lib")
    for d in dirs:
        jars = sorted(d.glob("flink-sql-connector-kafka-*.jar"))
        if jars:
            return jars[-1]
    return None


@pytest.fixture(scope="module")
def kafka_env():
    """The streaming kafka job's TableEnvironment with its tables created (not yet the views)."""
    from jobs.udf import ensure_udf_jar

    job = kafka_job("streaming", "localhost:9092")
    jar = _connector_jar()
    if jar is not None:
        job.extra_config["pipeline.jars"] = ";".join(
            p.resolve().as_uri() for p in (ensure_udf_jar(), jar))
    ddl, inserts = job.statements()
    tables = [s for s in ddl if s.startswith("CREATE TABLE")]
    env = job.environment()
    for stmt in tables:
        env.execute_sql(stmt)
    return env, [s for s in ddl if s not in tables], inserts, jar


@pytest.mark.flink
def test_kafka_table_ddl_parses(kafka_env):
    env = kafka_env[0]
    assert {"stock_prices", "market_news", "trading_signals", "dead_letter"} <= set(env.list_tables())


@pytest.mark.flink
def test_kafka_job_views_and_insert_plan(kafka_env):
    env, views, inserts, jar = kafka_env
    if jar is None:
        pytest.skip("the Kafka SQL connector jar (flink-sql-connector-kafka-*-1.20.jar) is not on "
                    "this machine, and views over kafka tables and the plan need its table "
                    "factory: put the jar in $TRADEFLOW_CONNECTOR_JARS or pyflink/lib (the "
                    "production image downloads it from Maven Central)")
    for stmt in views:
        env.execute_sql(stmt)
    plan = env.explain_sql(inserts[0])
    assert "trading_signals" in plan and "stock_prices" in plan and "market_news" in plan
