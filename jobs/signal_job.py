"""Assemble the signal job from the SQL files and run it, streaming or bounded.

The logic lives in sql/ and is the same in both modes; only the connector options (from
sql/connectors/<backend>/) and the runtime mode differ:

* streaming: reads `stock-prices` and `market-news` as they grow and writes `trading-signals`;
  submitted to the local cluster by `tradeflow job submit` (and `tradeflow run`).
* bounded: reads what files hold now and finishes; used by `tradeflow backtest`, which also
  writes every bar's indicators.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sysconfig
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
from pyflink.table import (EnvironmentSettings, StatementSet, StreamTableEnvironment,
                           TableEnvironment, TableResult)
from pyflink.util.java_utils import add_jars_to_context_class_loader

from jobs.sql_loader import REPO_ROOT, SQL_DIR, flat_params, load_strategy, render_sql, split_statements
from jobs.udf import ensure_udf_jar
from jobs.udf.build import java_sources
from tradeflow.jvm import jars

log = logging.getLogger(__name__)

Mode = Literal["streaming", "bounded"]

# The views, in dependency order; each file is one concern (see the comments inside).
VIEW_FILES = ("functions.sql", "python_functions.sql", "checks.sql", "prices.sql",
              "news_scores.sql", "timeline.sql", "indicators.sql", "setups.sql", "signals.sql")


class JobConfigError(ValueError):
    pass


@dataclass
class SignalJob:
    """Where the job reads and writes, and how it runs."""

    mode: Mode
    backend: str = "file"
    prices: str = ""  # file backend: directory of NDJSON; others: topic name
    news: str = ""
    signals: str = ""
    # Where the records the job refuses go (checks.sql); without it they are only left out.
    dead_letter: str = ""
    indicators: str | None = None  # bounded only: also write every bar's indicators here
    parallelism: int = 1
    name: str = "tradeflow-signals"
    params: dict[str, Any] = field(default_factory=lambda: flat_params(load_strategy()))
    # Extra ${placeholders} of the connector DDL (bootstrap servers, region, group id, ...).
    connector_params: dict[str, Any] = field(default_factory=dict)
    # True when a cluster (local standalone, Docker, Kubernetes, Managed Flink) configures where
    # checkpoints go; False for an in-process mini-cluster, which then checkpoints to a temp dir.
    cluster_checkpoints: bool = False
    # "thread" runs SCORE_SENTIMENT in an interpreter embedded in the TaskManager (pemja): no
    # worker process to start, no gRPC hop per bundle. It needs this interpreter's packages on the
    # TaskManager's machine, which holds for the mini-cluster and the local cluster. The
    # production stack (kafka_job) and Managed Flink keep "process", PyFlink's default: thread
    # mode could not be tried in their images here.
    python_mode: Literal["thread", "process"] = "thread"
    extra_config: dict[str, str] = field(default_factory=dict)
    # The backend's connector jars; None = those `make install` fetched (tradeflow.jvm). Managed
    # Flink's application zip carries them merged into its dependency jar instead.
    connector_jars: list[Path] | None = None

    # --- SQL ----------------------------------------------------------------------------------
    def _connector(self, role: str, location: str, key_field: str) -> str:
        backend_dir = SQL_DIR / "connectors" / self.backend
        if self.mode == "bounded" and role == "source":
            role = "bounded_source"
        path = backend_dir / f"{role}.sql"
        if not path.exists():
            raise JobConfigError(f"no {role} connector for backend {self.backend!r} ({path} is missing)")
        return render_sql(str(path.relative_to(SQL_DIR)),
                          {**self.params, **self.connector_params, "path": location, "topic": location,
                           "key_field": key_field})

    def _table(self, file: str, role: str, location: str, key_field: str = "symbol") -> str:
        """A table's DDL with the connector of this job's backend; key_field: the record key of
        a sink that has one (Kafka)."""
        return render_sql(f"tables/{file}", {**self.params,
                                            "connector": self._connector(role, location, key_field)})

    def statements(self, runtime: Mode | None = None) -> tuple[list[str], list[str]]:
        """(DDL and views, INSERTs): everything the job executes, as SQL text, for the runtime
        it will run on (see run; its mode by default)."""
        if not (self.prices and self.signals):
            raise JobConfigError("the job needs a prices source and a signals sink")
        # checks.sql compares a record's time with the watermark it arrived under; a bounded
        # runtime has no watermark (nor time attributes to ask it of), so no record is late there.
        view_params = {**self.params, "arrival_watermark": (
            "CURRENT_WATERMARK(timeline_time)" if (runtime or self.mode) == "streaming"
            else "CAST(NULL AS TIMESTAMP_LTZ(3))")}
        ddl = [
            self._table("stock_prices.sql", "source", self.prices),
            self._table("market_news.sql", "source", self.news),
            self._table("trading_signals.sql", "sink", self.signals),
        ]
        for view in VIEW_FILES:
            ddl.append(render_sql(view, view_params))
        inserts = [render_sql("insert_signals.sql", self.params)]
        if self.dead_letter:
            ddl.append(self._table("dead_letter.sql", "sink", self.dead_letter, key_field="component"))
            inserts.append(render_sql("insert_dead_letter.sql", self.params))
        if self.indicators:
            if self.mode != "bounded":
                raise JobConfigError("per-bar indicator output is for bounded runs")
            ddl.append(self._table("indicator_rows.sql", "sink", self.indicators))
            inserts.append(render_sql("insert_indicators.sql", self.params))
        split = [s for text in ddl for s in split_statements(text)]
        return split, [s for text in inserts for s in split_statements(text)]

    def fingerprint(self) -> str:
        """The shape of this job's state: its SQL (parameters and locations included) and the
        sources of its JVM functions. Flink restores a checkpoint only into the job that wrote it."""
        ddl, inserts = self.statements()
        digest = hashlib.sha256("\n".join(ddl + inserts).encode())
        for source in java_sources():
            digest.update(source.read_bytes())
        return digest.hexdigest()[:16]

    def checkpoints_under(self, base: Path) -> Path:
        """This job's checkpoint directory under base: one per fingerprint, so a resume only ever
        picks a checkpoint the job can restore, and an upgraded job starts afresh instead."""
        return base / f"job-{self.fingerprint()}"

    # --- runtime ------------------------------------------------------------------------------
    def job_jars(self) -> list[Path]:
        """The jars the job ships: its JVM functions and its backend's connector (fetched from
        Maven Central by `make install`; the file backend's connector is part of Flink)."""
        connector = self.connector_jars
        if connector is None:
            connector = [] if self.backend == "file" else jars(f"flink-{self.backend}")
        return [ensure_udf_jar(), *connector]

    def environment(self) -> TableEnvironment:
        job_jars = [j.resolve().as_uri() for j in self.job_jars()]
        options = {
            "pipeline.name": self.name,
            "pipeline.jars": ";".join(job_jars),
            "parallelism.default": str(self.parallelism),
            # Timestamps are UTC everywhere; CAST(TIMESTAMP_LTZ AS STRING) in the signal id too.
            "table.local-time-zone": "UTC",
            # strategy.toml [stream]: a partition without clocks must not hold back the others.
            "table.exec.source.idle-timeout": self.params["source_idle_timeout"],
            # The window state of symbols that went quiet expires (a week covers weekends and
            # holidays, so indicator state survives them).
            "table.exec.state.ttl": "7 d",
            "python.fn-execution.bundle.size": "1000",
            "python.execution-mode": self.python_mode,
            # Table operators never hold on to a record after passing it on, so chained operators
            # can hand records over without copying them.
            "pipeline.object-reuse": "true",
        }
        if self.python_mode == "thread":
            # The embedded interpreter neither activates a virtualenv nor runs its .pth files, and
            # an editable install (`make install`) finds the project's packages through one: both
            # directories go on its path, or the UDF works only when started from the repo.
            options["python.pythonpath"] = os.pathsep.join(
                dict.fromkeys([sysconfig.get_paths()["purelib"], str(REPO_ROOT)]))
        if self.mode == "bounded":
            # A bounded job runs stage by stage, one slot per subtask: with one slot the news
            # stage (and its Python function's start) waits until every bar is read. Two let the
            # sources run side by side; each slot keeps the managed memory (for the sorts) that
            # the mini-cluster gives its one slot by default, 128 MB.
            slots = 2 * self.parallelism
            options["taskmanager.numberOfTaskSlots"] = str(slots)
            options["taskmanager.memory.managed.size"] = f"{128 * slots}m"
        if self.mode == "streaming":
            options.update({
                # strategy.toml [stream]: the sinks publish at each checkpoint.
                "execution.checkpointing.interval": self.params["checkpoint_interval"],
                "execution.checkpointing.min-pause": self.params["checkpoint_min_pause"],
                "execution.checkpointing.mode": "EXACTLY_ONCE",
            })
            if not self.cluster_checkpoints:
                # In a mini-cluster with no directory, checkpoints go to JobManager memory,
                # which refuses state over 5 MB and sends the job into a restart loop.
                options["execution.checkpointing.dir"] = Path(
                    tempfile.mkdtemp(prefix="tradeflow-checkpoints-")).as_uri()
        options.update(self.extra_config)
        # Given at creation: PyFlink decides there whether Python workers call back into this
        # process (local mini-cluster) or run on their own (a remote cluster).
        conf = Configuration()
        for key, value in options.items():
            conf.set_string(key, value)
        builder = EnvironmentSettings.new_instance().with_configuration(conf)
        builder = builder.in_streaming_mode() if self.mode == "streaming" else builder.in_batch_mode()
        return StreamTableEnvironment.create(_stream_environment(conf, job_jars), builder.build())

    def run(self, wait: bool = True, runtime: Mode | None = None) -> TableResult:
        """Submit the job. runtime="streaming" on a bounded job runs its bounded connectors on
        the streaming runtime (checkpoints, watermarks, the streaming operators): the stream as
        `tradeflow run` runs it, but ending with its input (the job benchmark, tests)."""
        ddl, inserts = self.statements(runtime)
        env = (replace(self, mode=runtime) if runtime else self).environment()
        return execute(env, ddl, inserts, wait)


def _stream_environment(conf: Configuration, job_jars: list[str]) -> StreamExecutionEnvironment:
    """The execution environment, with the job's jars in its user class loader.

    With checkpointing on, the client compiles the generated code of some operators while it
    builds the job graph, with the class loader the environment took at creation; the rules call
    SETUP, so that loader must see the jar. Under `flink run` the environment is the cluster's,
    holding the program's class loader, which is also the context loader and takes the jar in
    place. A local environment (a mini-cluster in this process) would hold the JVM's application
    loader, which cannot take a jar after launch: it gets the context loader instead.
    """
    add_jars_to_context_class_loader(job_jars)
    jvm = get_gateway().jvm
    env_class = jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment
    j_env = env_class.getExecutionEnvironment(conf._j_configuration)
    if j_env.getClass().getSimpleName() == "LocalStreamEnvironment":
        local = conf._j_configuration.clone()
        local.setString("execution.target", "local")  # what LocalStreamEnvironment sets
        local.setString("execution.attached", "true")
        j_env = env_class(local, jvm.Thread.currentThread().getContextClassLoader())
    return StreamExecutionEnvironment(j_env)


_VIEW = re.compile(r"CREATE\s+TEMPORARY\s+VIEW\s+(\w+)\s+AS\s+(.*)", re.IGNORECASE | re.DOTALL)


def define(env: TableEnvironment, ddl: list[str]) -> None:
    """Execute the tables, functions and views of the job.

    Views are registered as Table objects rather than executed as SQL: Flink expands a SQL view
    anew inside each INSERT, and the news view's UNNEST then gets another correlation id in each
    copy, so the two INSERTs of a backtest (signals and per-bar indicators) would each run the
    OVER window and the Python UDF. A Table object is one plan that both INSERTs share.
    """
    for stmt in ddl:
        view = _VIEW.fullmatch(stmt)
        if view:
            env.create_temporary_view(view.group(1), env.sql_query(view.group(2)))
        else:
            env.execute_sql(stmt)


def statement_set(env: TableEnvironment, ddl: list[str], inserts: list[str]) -> StatementSet:
    """Define the job's objects and gather its INSERTs as one statement set (one Flink job)."""
    define(env, ddl)
    stmt_set: StatementSet = env.create_statement_set()
    for insert in inserts:
        stmt_set.add_insert_sql(insert)
    return stmt_set


def execute(env: TableEnvironment, ddl: list[str], inserts: list[str],
            wait: bool = True) -> TableResult:
    """Run the job's INSERTs as one statement set (one Flink job)."""
    result = statement_set(env, ddl, inserts).execute()
    if wait:
        result.wait()
    return result


def file_job(mode: Mode, topics_dir: Path, **kw: Any) -> SignalJob:
    """The job on the file backend, reading and writing the topic directories under topics_dir
    (a location given in kw, such as the backtest's own signals directory, takes its place)."""
    from tradeflow.config import DEAD_LETTER, NEWS, PRICES, SIGNALS

    locations = {"prices": PRICES, "news": NEWS, "signals": SIGNALS, "dead_letter": DEAD_LETTER}
    for role, topic in locations.items():
        if role not in kw:
            kw[role] = str(topics_dir / topic)
            (topics_dir / topic).mkdir(parents=True, exist_ok=True)
    return SignalJob(mode=mode, backend="file", **kw)


def kafka_job(mode: Mode, bootstrap_servers: str, **kw: Any) -> SignalJob:
    """The job on the kafka backend (Redpanda or Kafka), reading and writing the topics there.

    The consumer group and the sink's transactional-id prefix come from the job name: each must
    stay the same across restarts of one job (so it resumes its offsets and aborts its own open
    transactions) and differ between jobs on one cluster.
    """
    from tradeflow.config import DEAD_LETTER, NEWS, PRICES, SIGNALS

    name = kw.pop("name", "tradeflow-signals")
    kw.setdefault("python_mode", "process")  # see SignalJob.python_mode
    params = {"bootstrap_servers": bootstrap_servers, "group_id": name,
              "transactional_id_prefix": name, **kw.pop("connector_params", {})}
    return SignalJob(mode=mode, backend="kafka", prices=PRICES, news=NEWS, signals=SIGNALS,
                     dead_letter=DEAD_LETTER,
                     name=name, connector_params=params, **kw)


# The connector's AWS SDKs (v1 in the source, v2 in the sink) send Kinesis requests as CBOR.
# moto decodes every request body as UTF-8 and answers CBOR with HTTP 500 (UnicodeDecodeError on
# the first byte, 0xbf): the source fails its first DescribeStream and the job restarts in a loop;
# the sink retries its PutRecords for ever and writes nothing. These switch both to JSON.
LOCAL_KINESIS_JVM_PROPERTIES = {
    "org.apache.flink.kinesis.shaded.com.amazonaws.sdk.disableCbor": "true",  # SDK v1, shaded
    "aws.cborEnabled": "false",  # SDK v2
}


def plain_json_kinesis_clients() -> None:
    """Set LOCAL_KINESIS_JVM_PROPERTIES in this process's JVM, where a mini-cluster runs the job.
    A cluster's TaskManagers need them in `env.java.opts.all` (-Dname=value) instead."""
    system = get_gateway().jvm.System
    for name, value in LOCAL_KINESIS_JVM_PROPERTIES.items():
        system.setProperty(name, value)


def kinesis_job(mode: Mode, region: str, endpoint: str | None = None, stream_prefix: str = "",
                **kw: Any) -> SignalJob:
    """The job on the kinesis backend: the streams `stream_prefix + topic` in `region`.

    On AWS the connector finds its credentials itself (the application's role). `endpoint` (a
    local moto server, AWS_ENDPOINT_URL) sends every call there instead, with this environment's
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, over HTTP/1.1 (the sink's client would speak
    HTTP/2) and in JSON (plain_json_kinesis_clients, for a mini-cluster in this process).
    """
    from tradeflow.config import DEAD_LETTER, NEWS, PRICES, SIGNALS

    kw.setdefault("python_mode", "process")  # see SignalJob.python_mode
    options: dict[str, str] = {}
    if endpoint:
        env = os.environ.get
        options = {"aws.endpoint": endpoint, "aws.credentials.provider": "BASIC",
                   "aws.credentials.basic.accesskeyid": env("AWS_ACCESS_KEY_ID", "local"),
                   "aws.credentials.basic.secretkey": env("AWS_SECRET_ACCESS_KEY", "local"),
                   "aws.http.protocol.version": "HTTP1_1"}
        plain_json_kinesis_clients()
    params = {"aws_region": region, "source_init_position": "TRIM_HORIZON",
              "aws_client_options": "".join(f"    '{k}' = '{v}',\n" for k, v in options.items()),
              **kw.pop("connector_params", {})}
    return SignalJob(mode=mode, backend="kinesis", prices=stream_prefix + PRICES,
                     news=stream_prefix + NEWS, signals=stream_prefix + SIGNALS,
                     dead_letter=stream_prefix + DEAD_LETTER, connector_params=params, **kw)
