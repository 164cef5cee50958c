# syntax=docker/dockerfile:1
# Image of the tradeflow services (producers, consumer, dashboard): `tradeflow <command>`.
# Build context: the repository root. Without the flink extra: the job runs in the Flink image
# (flink.Dockerfile), and the services' dependencies all have wheels for x86-64 and arm64.

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
# Editable, so services find their files (dashboard/static, strategy.toml) as in a checkout; and
# checked to be without PyFlink, which only the Flink image needs.
COPY . .
RUN uv pip install --system --no-deps -e . && tradeflow --help >/dev/null \
 && ! python -c "import pyflink" 2>/dev/null

# An unprivileged user; /data (audit database, kill switch, positions) is a named volume, which
# starts as a copy of this directory and so belongs to that user.
RUN useradd --system --uid 10001 --home-dir /data --create-home tradeflow
USER tradeflow
WORKDIR /data
ENTRYPOINT ["tradeflow"]
CMD ["--help"]
