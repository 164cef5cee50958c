# syntax=docker/dockerfile:1
# Image of the tradeflow services (producers, consumer, dashboard): `tradeflow <command>`.
# Build context: the repository root. linux/amd64 only: the apache-flink dependency (pulled in by
# the shared package's pins) publishes x86-64 Linux wheels only.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.8

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE}
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRADEFLOW_BACKEND=kafka \
    TRADEFLOW_DATA_DIR=/data

WORKDIR /opt/tradeflow
# Dependencies first, from the pins alone, so a source change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN uv pip install --system -c constraints.txt -r pyproject.toml
# Editable, so services find their files (dashboard/static, strategy.toml) as in a checkout.
COPY . .
RUN uv pip install --system --no-deps -e . && tradeflow --help >/dev/null

# An unprivileged user; /data (audit database, kill switch, positions) is a named volume, which
# starts as a copy of this directory and so belongs to that user.
RUN useradd --system --uid 10001 --home-dir /data --create-home tradeflow
USER tradeflow
WORKDIR /data
ENTRYPOINT ["tradeflow"]
CMD ["--help"]
