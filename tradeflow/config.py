"""Every setting of tradeflow, in one place.

Each field is read from the environment variable named in its alias (the README's configuration
table is generated from this class by `tradeflow config --markdown`, and a test keeps the two in
step). Secrets are `SecretStr`, so they never print in logs, reprs or test output.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Topic names are part of the contract between components; they are the same on every backend
# (Kinesis streams get an optional prefix).
PRICES = "stock-prices"
NEWS = "market-news"
SIGNALS = "trading-signals"
ORDERS = "orders"
DEAD_LETTER = "dead-letter"
TOPICS = (PRICES, NEWS, SIGNALS, ORDERS, DEAD_LETTER)


class BackendName(str, Enum):
    file = "file"
    kafka = "kafka"
    kinesis = "kinesis"


def _env(name: str, default, description: str, **kw):
    return Field(default, validation_alias=AliasChoices(name), description=description, **kw)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False, frozen=True)

    # --- where things go -------------------------------------------------------------------
    backend: BackendName = _env(
        "TRADEFLOW_BACKEND", BackendName.file,
        "Topic backend for every component: `file` (embedded), `kafka` or `kinesis`. "
        "`--backend` on the CLI overrides it.")
    data_dir: Path = _env(
        "TRADEFLOW_DATA_DIR", Path(".tradeflow"),
        "All run state of the embedded default: topic directories, consumer positions, audit "
        "database, Flink checkpoints and logs. Relative paths are taken from the current directory.")
    symbols: str = _env(
        "TRADEFLOW_SYMBOLS", "AAPL,MSFT,GOOG,AMZN,SPY",
        "Comma-separated symbols the simulator and the Alpaca producer use by default.")
    log_level: str = _env("TRADEFLOW_LOG_LEVEL", "INFO", "Python log level of every component.")

    # --- file backend -----------------------------------------------------------------------
    file_segment_bytes: int = _env(
        "TRADEFLOW_FILE_SEGMENT_BYTES", 1_048_576,
        "File backend: a topic segment is sealed (renamed into place) once it holds this many bytes.",
        gt=0)
    file_segment_seconds: float = _env(
        "TRADEFLOW_FILE_SEGMENT_SECONDS", 1.0,
        "File backend: a segment with data is sealed at the latest this many seconds after its "
        "first record (bounds the latency readers and Flink see).", gt=0)

    # --- kafka backend ----------------------------------------------------------------------
    kafka_bootstrap_servers: str = _env(
        "TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", "localhost:9092",
        "Kafka backend: comma-separated bootstrap servers (Redpanda or Kafka).")

    # --- kinesis backend --------------------------------------------------------------------
    kinesis_stream_prefix: str = _env(
        "TRADEFLOW_KINESIS_STREAM_PREFIX", "",
        "Kinesis backend: prefix put before each topic name to form the stream name.")
    aws_region: str = _env(
        "AWS_REGION", "us-east-1", "AWS region for Kinesis (and the other AWS services).")
    aws_endpoint_url: str | None = _env(
        "AWS_ENDPOINT_URL", None,
        "Endpoint for AWS APIs, e.g. `http://127.0.0.1:5000` for a local moto server. Unset = AWS.")

    # --- producers --------------------------------------------------------------------------
    sim_seed: int = _env("TRADEFLOW_SIM_SEED", 7, "Seed of the market and news simulator.")
    sim_speed: float = _env(
        "TRADEFLOW_SIM_SPEED", 60.0,
        "Simulator speed factor: simulated seconds per wall-clock second (0 = as fast as possible).",
        ge=0)
    alpaca_poll_seconds: float = _env(
        "TRADEFLOW_ALPACA_POLL_SECONDS", 15.0,
        "Alpaca producer: seconds between polls of the market-data and news APIs.", gt=0)

    # --- Alpaca ---------------------------------------------------------------------------
    apca_api_key_id: SecretStr | None = _env(
        "APCA_API_KEY_ID", None, "Alpaca API key id. Unset = no Alpaca (simulated broker and data).")
    apca_api_secret_key: SecretStr | None = _env(
        "APCA_API_SECRET_KEY", None, "Alpaca API secret key.")
    apca_api_base_url: str = _env(
        "APCA_API_BASE_URL", "https://paper-api.alpaca.markets",
        "Alpaca trading API base URL (the paper endpoint by default).")
    apca_api_data_url: str = _env(
        "APCA_API_DATA_URL", "https://data.alpaca.markets",
        "Alpaca market-data API base URL (bars and news).")

    # --- Flink ------------------------------------------------------------------------------
    flink_rest_port: int = _env(
        "TRADEFLOW_FLINK_PORT", 8081, "Port of the local Flink cluster's web UI and REST API.")

    @field_validator("symbols")
    @classmethod
    def _symbols_not_empty(cls, v: str) -> str:
        if not [s for s in v.split(",") if s.strip()]:
            raise ValueError("TRADEFLOW_SYMBOLS lists no symbol")
        return v

    @property
    def symbol_list(self) -> list[str]:
        return [s.strip().upper() for s in self.symbols.split(",") if s.strip()]

    @property
    def alpaca_enabled(self) -> bool:
        return bool(self.apca_api_key_id and self.apca_api_secret_key)

    def path(self, *parts: str) -> Path:
        """A path under the data directory, made absolute so child processes agree on it."""
        return self.data_dir.resolve().joinpath(*parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_markdown() -> str:
    """The README's configuration table, straight from the fields above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in Settings.model_fields.values():
        name = field.validation_alias.choices[0]  # type: ignore[union-attr]
        default = field.default
        if isinstance(default, Enum):
            default = default.value
        shown = "unset" if default is None else "empty" if default == "" else f"`{default}`"
        rows.append(f"| `{name}` | {shown} | {field.description} |")
    return "\n".join(rows)
