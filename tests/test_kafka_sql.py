"""The signal job's SQL on the kafka backend (sql/connectors/kafka/).

The kafka tables are the file backend's table definitions (sql/tables/) with another WITH clause,
so the two cannot drift. The tables' DDL is executed in a real TableEnvironment (Flink parses it
and registers the tables). Planning the views and the INSERT takes the Kafka
connector's table factory, from the jars `make install` fetched from Maven Central.
"""

from __future__ import annotations

import re

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


@pytest.fixture(scope="module")
def kafka_env():
    """The streaming kafka job's TableEnvironment (with the connector jars `make install`
    fetched) and its tables created, not yet the views."""
    job = kafka_job("streaming", "localhost:9092")
    ddl, inserts = job.statements()
    tables = [s for s in ddl if s.startswith("CREATE TABLE")]
    env = job.environment()
    for stmt in tables:
        env.execute_sql(stmt)
    return env, [s for s in ddl if s not in tables], inserts


@pytest.mark.flink
def test_kafka_table_ddl_parses(kafka_env):
    env = kafka_env[0]
    assert {"stock_prices", "market_news", "trading_signals", "dead_letter"} <= set(env.list_tables())


@pytest.mark.flink
def test_kafka_sources_watermark_each_partition_and_skip_idle_ones(kafka_env):
    env, views, inserts = kafka_env
    from jobs.signal_job import define

    define(env, views)
    plan = env.explain_sql(inserts[0])
    # The watermark is pushed into the Kafka source, which then tracks it per partition (a
    # reader of several partitions never sees their interleaving as lateness), and a partition
    # quiet for the idle timeout no longer holds the others back.
    for table in ("stock_prices", "market_news"):
        scan = re.search(rf"TableSourceScan\(table=\[\[default_catalog, default_database, "
                         rf"{table}, watermark=\[.*?idletimeout=\[(\d+)\]", plan)
        assert scan, f"{table}: watermark not pushed into the Kafka source"
        assert int(scan.group(1)) > 0
    assert "trading_signals" in plan
