"""A local single-node Apache Kafka broker in KRaft mode, like the local Flink cluster.

It runs from the jars `make install` fetched from Maven Central (build/jars/kafka-broker/, pins
in jvm/pom.xml) exactly as Kafka's own start script would: format the storage once, then run the
main class `kafka.Kafka` over the folder of jars. Configuration, data, logs and the pid file live
under <data dir>/kafka/; `stop` ends exactly the process `start` recorded, after checking that it
is still that broker (its command line names this configuration file).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tradeflow.config import TOPICS, Settings
from tradeflow.jvm import jars
from tradeflow.processes import alive, cmdline, home_path, port_in_use

LOG4J2 = """\
Configuration:
  status: warn
  Appenders:
    RollingFile:
      name: file
      fileName: "{log}"
      filePattern: "{log}.%i"
      PatternLayout: {{pattern: "[%d] %p %m (%c)%n"}}
      Policies: {{SizeBasedTriggeringPolicy: {{size: 20MB}}}}
      DefaultRolloverStrategy: {{max: 2}}
  Loggers:
    Root: {{level: info, AppenderRef: [{{ref: file}}]}}
"""


class BrokerError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalKafka:
    home: Path  # <data dir>/kafka
    port: int = 9092
    controller_port: int = 9093
    partitions: int = 3
    heap: str = "512m"

    @classmethod
    def from_settings(cls, s: Settings) -> "LocalKafka":
        return cls(s.path("kafka"), s.kafka_port, s.kafka_controller_port, s.kafka_partitions)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    config_file = home_path("server.properties")
    pid_file = home_path("broker.pid")
    log_file = home_path("logs", "server.log")

    def _properties(self) -> str:
        listeners = f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners={listeners}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.home / 'data'}",
            f"num.partitions={self.partitions}",
            # One node: every internal topic has one replica and needs one in sync.
            "offsets.topic.replication.factor=1",
            "share.coordinator.state.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            # Consumers of a new group start at once instead of waiting for more members.
            "group.initial.rebalance.delay.ms=0",
            # The Flink sink's transaction timeout (sql/connectors/kafka/sink.sql) must fit.
            "transaction.max.timeout.ms=900000",
            "auto.create.topics.enable=false",
            "",
        ])

    def _java(self, main: str, *args: str) -> list[str]:
        classpath = os.pathsep.join(str(j) for j in jars("kafka-broker"))
        java = shutil.which("java")
        if java is None:
            raise BrokerError("no `java` on PATH: the local Kafka broker needs a JDK (17)")
        return [java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
                "-Dkafka.logs.dir=" + str(self.log_file.parent),
                "-cp", classpath, main, *args]

    # --- lifecycle ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The recorded broker's pid while that process is alive and is this broker."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) and str(self.config_file) in cmdline(pid) else None

    def start(self, timeout: float = 60.0) -> str:
        """Start the broker unless it runs, wait until it serves, create the project's topics.
        Returns what it did, for the CLI."""
        if self.pid() is not None:
            self.create_topics()
            return f"Kafka is already running at {self.bootstrap_servers} (pid {self.pid()})"
        for port in (self.port, self.controller_port):
            if port_in_use(port):
                raise BrokerError(f"port {port} is already in use by another process: set "
                                  f"TRADEFLOW_KAFKA_PORT / TRADEFLOW_KAFKA_CONTROLLER_PORT")
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._properties())
        (self.home / "log4j2.yaml").write_text(LOG4J2.format(log=self.log_file))
        if not (self.home / "data" / "meta.properties").exists():
            self._format()
        with open(self.home / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(self._java("kafka.Kafka", str(self.config_file)),
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while not port_in_use(self.port):
            if proc.poll() is not None:
                raise BrokerError(f"the Kafka broker exited (code {proc.returncode}) at start; "
                                  f"see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"the Kafka broker did not listen on {self.port} within "
                                  f"{timeout:.0f}s; see {self.log_file}")
            time.sleep(0.2)
        self.create_topics(timeout=max(5.0, deadline - time.monotonic()))
        return f"Kafka is up at {self.bootstrap_servers} (pid {proc.pid}, data in {self.home})"

    def _format(self) -> None:
        # A KRaft cluster id is 16 random bytes in URL-safe base64 without padding.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `=`: an id may start with "-", which would read as an option.
        proc = subprocess.run(self._java("kafka.tools.StorageTool", "format", "--ignore-formatted",
                                         f"--cluster-id={cluster_id}", "-c", str(self.config_file)),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise BrokerError("formatting the Kafka storage failed: "
                              + (proc.stderr or proc.stdout).strip().splitlines()[-1:][0])

    def create_topics(self, timeout: float = 30.0) -> list[str]:
        """Create the project's topics that do not exist yet; returns the ones created."""
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        deadline = time.monotonic() + timeout
        while True:
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                         client_id="tradeflow-kafka-start",
                                         request_timeout_ms=10_000)
                break
            except KafkaError as err:
                if time.monotonic() > deadline:
                    raise BrokerError(f"the Kafka broker at {self.bootstrap_servers} does not "
                                      f"answer: {err}") from None
                time.sleep(0.5)
        try:
            missing = [t for t in TOPICS if t not in set(admin.list_topics())]
            created = []
            for topic in missing:
                try:
                    admin.create_topics([NewTopic(topic, self.partitions, 1)])
                    created.append(topic)
                except TopicAlreadyExistsError:
                    pass
            return created
        finally:
            admin.close()

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the broker `start` started (SIGTERM: it closes its logs cleanly; SIGKILL after
        timeout). Returns its pid, or None when none was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return None
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return pid

    def status(self) -> dict:
        pid = self.pid()
        return {"running": pid is not None, "pid": pid, "bootstrap_servers": self.bootstrap_servers,
                "serving": port_in_use(self.port), "home": str(self.home)}
