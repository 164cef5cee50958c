# syntax=docker/dockerfile:1
# Flink image of the production stack (JobManager, TaskManagers and the job submitter):
# the official Flink 1.20 image + Python 3.11 + PyFlink 1.20.3 + tradeflow (with its SQL) +
# the tradeflow UDF jar + the Kafka SQL connector. Build context: the repository root.
#
# Flink's Python API, its JVM and the jars on the classpath must be the same Flink version, so the
# base image is pinned to the patch release that matches the apache-flink pin in pyproject.toml.
# apache-flink and pemja publish x86-64 Linux wheels only: build for linux/amd64.

ARG FLINK_IMAGE=flink:1.20.3-java17
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.8
# Kafka SQL connector for Flink 1.20 (3.x-1.20 line; 3.3.0-1.20 works too).
ARG KAFKA_CONNECTOR_VERSION=3.4.0-1.20
ARG MAVEN_REPO=https://repo1.maven.org/maven2

FROM ${UV_IMAGE} AS uv

# --- base: Flink + Python 3.11 + tradeflow --------------------------------------------------------
FROM ${FLINK_IMAGE} AS base
# Ubuntu 22.04 (the official image's base) has no maintained Python 3.11 package; uv installs a
# standalone CPython build (with the shared libpython that PyFlink's embedded runner loads).
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1
RUN uv python install 3.11 && uv venv --python 3.11 /opt/venv

WORKDIR /opt/tradeflow
# Dependencies first, from the pins alone, so a source change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN uv pip install --python /opt/venv/bin/python -c constraints.txt -r pyproject.toml
# Editable: the jobs find sql/, strategy.toml and build/ next to their package, as in a checkout.
COPY . .
RUN uv pip install --python /opt/venv/bin/python --no-deps -e . \
 && /opt/venv/bin/python -c "import pyflink, jobs.signal_job, tradeflow.sentiment"
WORKDIR /opt/flink

# --- udf: compile the JVM indicator aggregates with jobs/udf/build.py (needs a JDK) --------------
FROM eclipse-temurin:17-jdk-jammy AS udf
COPY --from=base /opt/python /opt/python
COPY --from=base /opt/venv /opt/venv
COPY --from=base /opt/tradeflow /opt/tradeflow
WORKDIR /opt/tradeflow
RUN /opt/venv/bin/python -m jobs.udf.build --force

# --- final ----------------------------------------------------------------------------------------
FROM base
ARG KAFKA_CONNECTOR_VERSION
ARG MAVEN_REPO
# On lib/, so the JobManager, the TaskManagers and the `flink run` client all find the factory.
# Maven Central's .sha1 guards against a truncated or corrupted download.
RUN set -eux; \
    jar="flink-sql-connector-kafka-${KAFKA_CONNECTOR_VERSION}.jar"; \
    url="${MAVEN_REPO}/org/apache/flink/flink-sql-connector-kafka/${KAFKA_CONNECTOR_VERSION}/${jar}"; \
    wget -nv -O "/opt/flink/lib/${jar}" "${url}"; \
    wget -nv -O /tmp/connector.sha1 "${url}.sha1"; \
    echo "$(cut -c1-40 /tmp/connector.sha1)  /opt/flink/lib/${jar}" | sha1sum -c -; \
    rm /tmp/connector.sha1

COPY --from=udf /opt/tradeflow/build/tradeflow-udf.jar /opt/tradeflow/build/tradeflow-udf.jar
# Newer than every Java source, so ensure_udf_jar() never tries to rebuild it (no javac here).
RUN touch /opt/tradeflow/build/tradeflow-udf.jar

# The repo's flink-conf.yaml, with the local cluster's loopback addresses opened to the container
# network (what the official image does to its own configuration) and container paths. The
# entrypoint then sets jobmanager.rpc.address and applies FLINK_PROPERTIES on top.
COPY --chown=flink:flink flink-conf.yaml /opt/flink/conf/flink-conf.yaml
RUN set -eux; \
    rm -f /opt/flink/conf/config.yaml; \
    conf=/opt/flink/conf/flink-conf.yaml; \
    sed -i -E \
      -e 's/^(jobmanager\.bind-host|taskmanager\.bind-host|rest\.bind-address|rest\.address):.*/\1: 0.0.0.0/' \
      -e '/^taskmanager\.host:/d' \
      -e 's#^state\.checkpoints\.dir:.*#state.checkpoints.dir: file:///opt/flink/checkpoints#' \
      "$conf"; \
    printf '\n# set by infra/docker/flink.Dockerfile\n%s\n%s\n%s\n' \
      'state.savepoints.dir: file:///opt/flink/savepoints' \
      'python.executable: /opt/venv/bin/python' \
      'python.client.executable: /opt/venv/bin/python' >> "$conf"; \
    grep -q '^rest.bind-address: 0.0.0.0' "$conf"; \
    ! grep -q '^taskmanager.host:' "$conf"; \
    # Named volumes mounted here start as a copy of these directories, owned by flink.
    mkdir -p /opt/flink/checkpoints /opt/flink/savepoints; \
    chown -R flink:flink /opt/flink/conf /opt/flink/checkpoints /opt/flink/savepoints

ENV TRADEFLOW_BACKEND=kafka
EXPOSE 6123 8081 9249
