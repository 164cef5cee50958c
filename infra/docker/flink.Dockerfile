# syntax=docker/dockerfile:1
# Flink image of the production stack (JobManager, TaskManagers and the job submitter):
# the official Flink 1.20 image + Python 3.11 + PyFlink 1.20.3 + tradeflow (with its SQL) +
# the tradeflow UDF jar + the Kafka connector jars. Build context: the repository root.
#
# Flink's Python API, its JVM and the jars on the classpath must be the same Flink version, so the
# base image is pinned to the patch release that matches the apache-flink pin in pyproject.toml
# and flink.version in jvm/pom.xml.
# The Kafka connector and its dependencies come from jvm/pom.xml, the one place every JVM part is
# pinned, fetched by the same `python -m tradeflow.jvm fetch` that `make install` runs, into the
# same folder (build/jars/flink-kafka/): the job puts that folder's jars on pipeline.jars itself,
# exactly as under `tradeflow --backend kafka run`. Nothing extra goes on /opt/flink/lib.
# apache-flink and pemja publish x86-64 Linux wheels only: build for linux/amd64.

ARG FLINK_IMAGE=flink:1.20.3-java17
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.8
# A JDK (for the UDF jar) and Maven (for the connector jars).
ARG MAVEN_IMAGE=maven:3.9-eclipse-temurin-17

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
RUN uv pip install --python /opt/venv/bin/python -c constraints.txt -r pyproject.toml --extra flink
# Editable: the jobs find sql/, strategy.toml and build/ next to their package, as in a checkout.
COPY . .
RUN uv pip install --python /opt/venv/bin/python --no-deps -e . \
 && /opt/venv/bin/python -c "import pyflink, jobs.signal_job, tradeflow.sentiment"
WORKDIR /opt/flink

# --- jvm: the UDF jar (jobs/udf/build.py, javac) and the Kafka connector jars (jvm/pom.xml, mvn) --
FROM ${MAVEN_IMAGE} AS jvm
COPY --from=base /opt/python /opt/python
COPY --from=base /opt/venv /opt/venv
COPY --from=base /opt/tradeflow /opt/tradeflow
WORKDIR /opt/tradeflow
RUN /opt/venv/bin/python -m jobs.udf.build --force
# Checksums verified (--strict-checksums); the folder gets the pom's stamp (.pom-sha256), which
# tradeflow.jvm.jars() checks against the jvm/pom.xml of this image. The local Maven repository
# is a build cache, not part of any image.
RUN --mount=type=cache,target=/root/.m2 /opt/venv/bin/python -m tradeflow.jvm fetch flink-kafka \
 && /opt/venv/bin/python -c "from tradeflow.jvm import jars; assert jars('flink-kafka')"

# --- final ----------------------------------------------------------------------------------------
FROM base
COPY --from=jvm /opt/tradeflow/build/tradeflow-udf.jar /opt/tradeflow/build/tradeflow-udf.jar
COPY --from=jvm /opt/tradeflow/build/jars/flink-kafka /opt/tradeflow/build/jars/flink-kafka
# Newer than every Java source, so ensure_udf_jar() never tries to rebuild it (no javac here);
# and the job finds its connector where `make install` puts it in a checkout.
RUN touch /opt/tradeflow/build/tradeflow-udf.jar \
 && /opt/venv/bin/python -c "from tradeflow.jvm import jars; assert jars('flink-kafka')"

# The repo's Flink configuration (infra/flink/config.yaml), with its loopback addresses opened to
# the container network (what the official image does to its own) and the container's
# directories and interpreter, rewritten by Flink's own config-parser-utils.sh: the tool the
# entrypoint then sets jobmanager.rpc.address and applies FLINK_PROPERTIES with. No legacy
# flink-conf.yaml may remain: Flink would read it instead.
COPY --chown=flink:flink infra/flink/config.yaml /opt/flink/conf/config.yaml
RUN set -eux; \
    rm -f "$FLINK_HOME/conf/flink-conf.yaml"; \
    bash "$FLINK_HOME/bin/config-parser-utils.sh" "$FLINK_HOME/conf" "$FLINK_HOME/bin" "$FLINK_HOME/lib" \
      -D jobmanager.bind-host=0.0.0.0 \
      -D taskmanager.bind-host=0.0.0.0 \
      -D rest.bind-address=0.0.0.0 \
      -D rest.address=0.0.0.0 \
      -rmKey taskmanager.host \
      -D execution.checkpointing.dir=file:///opt/flink/checkpoints \
      -D execution.checkpointing.savepoint-dir=file:///opt/flink/savepoints \
      -D python.executable=/opt/venv/bin/python \
      -D python.client.executable=/opt/venv/bin/python; \
    grep -q 'bind-address: 0.0.0.0' "$FLINK_HOME/conf/config.yaml"; \
    # Named volumes mounted here start as a copy of these directories, owned by flink.
    mkdir -p /opt/flink/checkpoints /opt/flink/savepoints; \
    chown -R flink:flink /opt/flink/conf /opt/flink/checkpoints /opt/flink/savepoints

ENV TRADEFLOW_BACKEND=kafka
EXPOSE 6123 8081 9249
