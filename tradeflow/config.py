"""Every setting of tradeflow, in one place.

Each field is read from the environment variable named in its alias (the README's configuration
table is generated from this class by `tradeflow config --markdown`, and a test keeps the two in
step). Secrets are `SecretStr`, so they never print in logs, reprs or test output.
"""

from __future__ import annotations

import ipaddress
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tradeflow import durations

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


def port_range(text: str) -> tuple[int, int]:
    """The first and last port of a `first-last` range (Flink's notation)."""
    first, sep, last = text.strip().partition("-")
    if not (sep and first.strip().isdigit() and last.strip().isdigit()):
        raise ValueError(f"not a port range: give first-last, e.g. 6124-6149 (got {text!r})")
    low, high = int(first), int(last)
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"not a port range: need 1024 <= first <= last <= 65535 (got {text!r})")
    return low, high


class SettingsBase(BaseSettings):
    """Settings read from the environment variables their fields name (`validation_alias`).

    `with_values` sets fields by field name (`risk_market_hours`) or variable name
    (`TRADEFLOW_RISK_MARKET_HOURS`), validated, with nothing else read again: what a caller
    (the backtest, a CLI flag) decides is never overridden by the environment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False, frozen=True)

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of a field, given its field or variable name."""
        for field_name, field in cls.model_fields.items():
            var = field.validation_alias.choices[0]  # type: ignore[union-attr]
            if name in (field_name, var):
                return var
        known = ", ".join(cls.model_fields)
        raise ValueError(f"unknown setting {name!r} of {cls.__name__} (known: {known})")

    def with_values(self, **values: Any) -> Self:
        current = {self.variable(k): v for k, v in self.model_dump().items()}
        current.update({self.variable(k): v for k, v in values.items()})
        return type(self).model_validate(current)


class Settings(SettingsBase):
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
    file_retention_seconds: float = _env(
        "TRADEFLOW_FILE_RETENTION_SECONDS", 604_800.0,
        "File backend: segments older than this (7 days) are deleted by the topic's writer "
        "(checked at most once a minute); 0 keeps them forever. A reader behind it goes on from "
        "the oldest segment kept.", ge=0)
    file_retention_bytes: int = _env(
        "TRADEFLOW_FILE_RETENTION_BYTES", 1_073_741_824,
        "File backend: the oldest segments of a topic are deleted while its segments hold more "
        "than this (1 GiB); 0 = no limit. The newest segment always stays.", ge=0)

    # --- kafka backend ----------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = _env(
        "TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", None,
        "Kafka backend: comma-separated bootstrap servers (Redpanda or Kafka). Unset = the local "
        "broker of `tradeflow kafka start` (`127.0.0.1:` + `TRADEFLOW_KAFKA_PORT`), which "
        "`tradeflow --backend kafka run` starts itself.")
    kafka_port: int = _env(
        "TRADEFLOW_KAFKA_PORT", 9092,
        "Local Kafka broker (`tradeflow kafka start`): its client port on 127.0.0.1.",
        ge=1, le=65535)
    kafka_controller_port: int = _env(
        "TRADEFLOW_KAFKA_CONTROLLER_PORT", 9093,
        "Local Kafka broker: its KRaft controller port on 127.0.0.1.", ge=1, le=65535)
    kafka_partitions: int = _env(
        "TRADEFLOW_KAFKA_PARTITIONS", 3,
        "Local Kafka broker: partitions of each topic it creates.", ge=1)

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
    clock_heartbeat_seconds: float = _env(
        "TRADEFLOW_CLOCK_HEARTBEAT_SECONDS", 1.0,
        "Producers: while waiting for the next bar, repeat the last clock (a record telling the "
        "job that everything up to it is published) this often, so that Flink never counts a "
        "quiet topic as idle (strategy.toml `source_idle_timeout`) and lets the bars pass a story still on its way.", gt=0)
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

    # --- metrics and health -----------------------------------------------------------------
    metrics_host: str = _env(
        "TRADEFLOW_METRICS_HOST", "127.0.0.1",
        "Address the producers' and the consumer's `/metrics` and `/healthz` listen on (with "
        "`--metrics-port`); `0.0.0.0` in a container, for Prometheus and the probes.")
    metrics_port_base: int = _env(
        "TRADEFLOW_METRICS_PORT_BASE", 9101,
        "`tradeflow run`: the producer's `--metrics-port`; the consumer gets the next port (the "
        "first free ones from there).", ge=1, le=65535)
    feed_stale_seconds: float = _env(
        "TRADEFLOW_FEED_STALE_SECONDS", 30.0,
        "`/healthz` turns unhealthy (503) when `stock-prices` has been silent this long: nothing "
        "read by the consumer, nothing written by a producer. Producers repeat their clock every "
        "`TRADEFLOW_CLOCK_HEARTBEAT_SECONDS`, so only a dead feed is that quiet.", gt=0)

    # --- Flink ------------------------------------------------------------------------------
    flink_rest_port: int = _env(
        "TRADEFLOW_FLINK_PORT", 8081, "Port of the local Flink cluster's web UI and REST API.")
    flink_rpc_port: int = _env(
        "TRADEFLOW_FLINK_RPC_PORT", 6123,
        "RPC port of the local Flink JobManager (task managers register there).")
    flink_port_range: str = _env(
        "TRADEFLOW_FLINK_PORT_RANGE", "6124-6149",
        "Local Flink cluster: `first-last` range of the ports its other servers listen on, on "
        "127.0.0.1 (blob server, TaskManager RPC and data exchange, metric query services; "
        "otherwise random). Each takes the first free port, so clusters on different "
        "`TRADEFLOW_FLINK_PORT`s can share the range; a cluster needs 5 free ports in it. Must "
        "not hold `TRADEFLOW_FLINK_PORT` or `TRADEFLOW_FLINK_RPC_PORT`.")

    @field_validator("flink_port_range")
    @classmethod
    def _port_range(cls, v: str) -> str:
        first, last = port_range(v)
        return f"{first}-{last}"

    @model_validator(mode="after")
    def _flink_ports_outside_range(self) -> "Settings":
        first, last = port_range(self.flink_port_range)
        for name, port in (("TRADEFLOW_FLINK_PORT", self.flink_rest_port),
                           ("TRADEFLOW_FLINK_RPC_PORT", self.flink_rpc_port)):
            if first <= port <= last:
                raise ValueError(f"{name} ({port}) lies in TRADEFLOW_FLINK_PORT_RANGE "
                                 f"({self.flink_port_range}), where the cluster's other servers "
                                 "would take it first")
        return self

    @field_validator("symbols")
    @classmethod
    def _symbols_not_empty(cls, v: str) -> str:
        if not [s for s in v.split(",") if s.strip()]:
            raise ValueError("TRADEFLOW_SYMBOLS lists no symbol")
        return v

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, v: str) -> str:
        if v.strip().upper() not in ("CRITICAL", "ERROR", "WARNING", "WARN", "INFO", "DEBUG",
                                     "NOTSET"):
            raise ValueError("not a log level: give DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return v.strip().upper()

    @property
    def symbol_list(self) -> list[str]:
        return [s.strip().upper() for s in self.symbols.split(",") if s.strip()]

    @property
    def kafka_servers(self) -> str:
        """The Kafka cluster every component uses: the one configured, else the local broker."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def alpaca_enabled(self) -> bool:
        return bool(self.apca_api_key_id and self.apca_api_secret_key)

    def path(self, *parts: str) -> Path:
        """A path under the data directory, made absolute so child processes agree on it."""
        return self.data_dir.resolve().joinpath(*parts)


# --- the signal consumer ------------------------------------------------------------------
# Risk limits that are amounts of money are in the account currency (USD); 0 switches a rule off.

class BrokerChoice(str, Enum):
    auto = "auto"  # Alpaca when its keys are set, else the built-in paper broker
    alpaca = "alpaca"
    paper = "paper"


class RiskClock(str, Enum):
    auto = "auto"  # wall on Alpaca, signal on the paper broker
    wall = "wall"
    signal = "signal"


class Sizing(str, Enum):
    fixed_fractional = "fixed_fractional"
    volatility = "volatility"


class ConsumerSettings(SettingsBase):
    # --- broker -----------------------------------------------------------------------------
    broker: BrokerChoice = _env(
        "TRADEFLOW_BROKER", BrokerChoice.auto,
        "Consumer: where orders go: `alpaca` (paper account, needs `APCA_API_KEY_ID` and "
        "`APCA_API_SECRET_KEY`), `paper` (built-in simulator) or `auto` (Alpaca when its keys are "
        "set, else the simulator).")
    bracket_orders: bool = _env(
        "TRADEFLOW_BRACKET_ORDERS", True,
        "Consumer: open a position with a bracket order (market entry, take-profit limit and "
        "stop-loss stop worked by the broker) when the signal carries a sane stop and target; "
        "on Alpaca whole shares only (rounded down). Off, or below one whole share on Alpaca: "
        "the engine watches stop and target on the bars and exits with a market order.")
    allow_short: bool = _env(
        "TRADEFLOW_ALLOW_SHORT", False,
        "Consumer: a SELL signal while flat opens a short position (otherwise it is vetoed).")
    broker_timeout_seconds: float = _env(
        "TRADEFLOW_BROKER_TIMEOUT_SECONDS", 10.0,
        "Consumer, Alpaca: timeout of one HTTP request to the broker.", gt=0)
    broker_retries: int = _env(
        "TRADEFLOW_BROKER_RETRIES", 4,
        "Consumer, Alpaca: attempts per broker call on timeouts, 5xx and 429 before giving up. An "
        "order whose outcome is unknown is looked up by client_order_id before any new attempt.",
        ge=1)
    broker_backoff_seconds: float = _env(
        "TRADEFLOW_BROKER_BACKOFF_SECONDS", 0.5,
        "Consumer, Alpaca: first retry wait, doubled on each attempt (at most 30 s); a 429's "
        "`Retry-After` is honoured when longer.", ge=0)
    bar_hold_seconds: float = _env(
        "TRADEFLOW_BAR_HOLD_SECONDS", 1.0,
        "Consumer: how long a bar of `stock-prices` may wait for the job's signals of the bars "
        "before it, so the signals of a bar are decided before the next bar fills or exits "
        "anything (the order the backtest replays them in).", ge=0)
    order_wait_seconds: float = _env(
        "TRADEFLOW_ORDER_WAIT_SECONDS", 30.0,
        "Consumer, Alpaca: how long to follow a new order before the next signal; an order not "
        "final by then is followed in the background of the loop until it is.", ge=0)
    order_poll_seconds: float = _env(
        "TRADEFLOW_ORDER_POLL_SECONDS", 1.0,
        "Consumer, Alpaca: interval between polls of an open order's status.", gt=0)

    # --- risk -------------------------------------------------------------------------------
    risk_clock: RiskClock = _env(
        "TRADEFLOW_RISK_CLOCK", RiskClock.auto,
        "Consumer: the clock for staleness, market hours, cooldown and the trading day: `wall` "
        "(real time), `signal` (the latest `bar_time` seen: for the simulator, whose bars run ahead "
        "of real time) or `auto` (wall on Alpaca, signal on the paper broker). Alpaca always uses "
        "`wall`; `signal` with Alpaca is refused at start.")
    risk_stale_seconds: float = _env(
        "TRADEFLOW_RISK_STALE_SECONDS", 300.0,
        "Consumer: a signal whose `bar_time` is older than this (against the risk clock) is not "
        "traded, so a replay of history never places orders now.", gt=0)
    risk_max_clock_skew_seconds: float = _env(
        "TRADEFLOW_RISK_MAX_CLOCK_SKEW_SECONDS", 60.0,
        "Consumer: a signal whose `bar_time` is further than this in the future of the risk clock "
        "is not traded (simulated data must not reach a real-time account).", ge=0)
    risk_market_hours: bool = _env(
        "TRADEFLOW_RISK_MARKET_HOURS", True,
        "Consumer: trade only in the US regular session (Alpaca: `GET /v2/clock`; paper broker: "
        "the NYSE calendar in America/New_York at the risk clock's time).")
    risk_min_confidence: float = _env(
        "TRADEFLOW_RISK_MIN_CONFIDENCE", 0.5,
        "Consumer: signals with a lower `confidence` are not traded.", ge=0, le=1)
    risk_cooldown_seconds: float = _env(
        "TRADEFLOW_RISK_COOLDOWN_SECONDS", 300.0,
        "Consumer: minimum time between two orders on the same symbol (0 = off).", ge=0)
    risk_max_order_value: float = _env(
        "TRADEFLOW_RISK_MAX_ORDER_VALUE", 10_000.0,
        "Consumer: largest value of one opening order, qty x price (0 = off).", ge=0)
    risk_max_position_value: float = _env(
        "TRADEFLOW_RISK_MAX_POSITION_VALUE", 20_000.0,
        "Consumer: largest absolute position value per symbol after the order, counting open "
        "orders (0 = off).", ge=0)
    risk_max_gross_exposure: float = _env(
        "TRADEFLOW_RISK_MAX_GROSS_EXPOSURE", 50_000.0,
        "Consumer: largest sum of absolute position values after the order (0 = off).", ge=0)
    risk_max_open_positions: int = _env(
        "TRADEFLOW_RISK_MAX_OPEN_POSITIONS", 5,
        "Consumer: most symbols held at once; an order opening one more is vetoed (0 = off).", ge=0)
    risk_daily_loss_limit: float = _env(
        "TRADEFLOW_RISK_DAILY_LOSS_LIMIT", 2_000.0,
        "Consumer: once equity is this much below the start of the trading day, no more orders "
        "that day (0 = off).", ge=0)
    risk_max_drawdown: float = _env(
        "TRADEFLOW_RISK_MAX_DRAWDOWN", 0.0,
        "Consumer: once equity (open positions marked to market) is this fraction below its peak, "
        "orders that open a position are vetoed; closing ones still go through. The peak is the "
        "highest equity seen while the limit is on, kept in the consumer's state across restarts "
        "(0 = off; e.g. `0.1` for 10 %).", ge=0, lt=1)

    # --- sizing -----------------------------------------------------------------------------
    sizing: Sizing = _env(
        "TRADEFLOW_SIZING", Sizing.fixed_fractional,
        "Consumer: position sizing: `fixed_fractional` (a fraction of equity per trade) or "
        "`volatility` (risk a fraction of equity down to the signal's `stop_loss`; fixed "
        "fractional when the signal has none).")
    sizing_fraction: float = _env(
        "TRADEFLOW_SIZING_FRACTION", 0.02,
        "Consumer: fixed fractional sizing: fraction of equity put in one trade.", gt=0, le=1)
    sizing_risk_fraction: float = _env(
        "TRADEFLOW_SIZING_RISK_FRACTION", 0.005,
        "Consumer: volatility sizing: fraction of equity lost if the stop is hit.", gt=0, le=1)
    fractional_shares: bool = _env(
        "TRADEFLOW_FRACTIONAL_SHARES", False,
        "Consumer: allow fractional quantities (otherwise sizes are rounded down to whole shares).")

    # --- built-in paper broker --------------------------------------------------------------
    paper_cash: float = _env(
        "TRADEFLOW_PAPER_CASH", 100_000.0,
        "Paper broker: starting cash of a new account (kept under the data dir afterwards).", gt=0)
    paper_slippage_bps: float = _env(
        "TRADEFLOW_PAPER_SLIPPAGE_BPS", 5.0,
        "Paper broker: fills are this many basis points worse than the signal's price.", ge=0)
    paper_fee_bps: float = _env(
        "TRADEFLOW_PAPER_FEE_BPS", 0.0,
        "Paper broker: fee in basis points of each fill's value.", ge=0)
    paper_fee_per_order: float = _env(
        "TRADEFLOW_PAPER_FEE_PER_ORDER", 0.0, "Paper broker: fixed fee per filled order.", ge=0)

    # --- state, audit, kill switch ----------------------------------------------------------
    audit_db: Path | None = _env(
        "TRADEFLOW_AUDIT_DB", None,
        "Consumer: SQLite audit trail and decision state. Unset = `<data dir>/audit.sqlite`.")
    kill_switch_path: Path | None = _env(
        "TRADEFLOW_KILL_SWITCH", None,
        "Consumer: while this file exists no new order is placed (`tradeflow consume kill` / "
        "`resume`). Unset = `<data dir>/KILL`.")

    # --- notifications ----------------------------------------------------------------------
    slack_bot_token: SecretStr | None = _env(
        "SLACK_BOT_TOKEN", None,
        "Slack bot token (`xoxb-...`). With `SLACK_CHANNEL` set, notifications go to Slack; "
        "otherwise to the console.")
    slack_channel: str | None = _env(
        "SLACK_CHANNEL", None, "Slack channel (name or id) for notifications.")
    slack_api_url: str = _env(
        "SLACK_API_URL", "https://slack.com/api/",
        "Slack Web API base URL (tests point it at a local stub).")
    slack_timeout_seconds: float = _env(
        "TRADEFLOW_SLACK_TIMEOUT_SECONDS", 5.0,
        "Slack: timeout of one message; after a failure Slack is skipped for 30 s.", gt=0)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_bot_token.get_secret_value()
                    and self.slack_channel)

    def audit_path(self, shared: Settings) -> Path:
        return (self.audit_db or shared.path("audit.sqlite")).resolve()

    def kill_path(self, shared: Settings) -> Path:
        return (self.kill_switch_path or shared.path("KILL")).resolve()


@lru_cache(maxsize=1)
def get_consumer_settings() -> ConsumerSettings:
    return ConsumerSettings()


# --- the AWS Lambdas ----------------------------------------------------------------------

class AwsSettings(SettingsBase):
    state_table: str = _env(
        "TRADEFLOW_STATE_TABLE", "tradeflow-state",
        "Lambda: DynamoDB table of the signal executor's state (processed signals, orders, "
        "daily P&L facts, kill switch).")
    audit_table: str = _env(
        "TRADEFLOW_AUDIT_TABLE", "tradeflow-audit",
        "Lambda: DynamoDB table of the signal executor's audit trail.")
    ingest_table: str = _env(
        "TRADEFLOW_INGEST_TABLE", "tradeflow-ingest",
        "Lambda: DynamoDB table of the ingestion cursors (last bar end per symbol) and the news "
        "ids already published.")
    alpaca_secret_id: str = _env(
        "TRADEFLOW_ALPACA_SECRET_ID", "tradeflow/alpaca",
        "Lambda: Secrets Manager secret holding the Alpaca keys as JSON "
        "`{\"key_id\": ..., \"secret_key\": ...}`.")
    slack_secret_id: str | None = _env(
        "TRADEFLOW_SLACK_SECRET_ID", None,
        "Lambda: Secrets Manager secret holding `{\"bot_token\": ..., \"channel\": ...}` for "
        "notifications. Unset = notifications go to the function's log.")
    secret_cache_seconds: float = _env(
        "TRADEFLOW_SECRET_CACHE_SECONDS", 300.0,
        "Lambda: how long a warm container reuses secrets before reading them again (so a "
        "rotation is picked up).", ge=0)
    processed_ttl_days: float = _env(
        "TRADEFLOW_PROCESSED_TTL_DAYS", 30.0,
        "Lambda: days a processed-signal record is kept (DynamoDB TTL); must exceed the "
        "signals stream's retention. 0 = forever.", ge=0)
    audit_ttl_days: float = _env(
        "TRADEFLOW_AUDIT_TTL_DAYS", 0.0,
        "Lambda: days an audit event is kept (DynamoDB TTL). 0 = forever.", ge=0)
    alpaca_feed: str = _env(
        "TRADEFLOW_ALPACA_FEED", "iex", "Lambda ingestion: Alpaca bar feed (`iex` or `sip`).")
    bar_lookback_minutes: float = _env(
        "TRADEFLOW_INGEST_BAR_LOOKBACK_MINUTES", 15.0,
        "Lambda ingestion: a symbol without a cursor yet is read from this many minutes ago.",
        gt=0)
    max_catchup_minutes: float = _env(
        "TRADEFLOW_INGEST_MAX_CATCHUP_MINUTES", 60.0,
        "Lambda ingestion: never ask for bars older than this, however old a cursor is (after an "
        "outage, older bars would only be vetoed as stale).", gt=0)
    news_lookback_minutes: float = _env(
        "TRADEFLOW_INGEST_NEWS_LOOKBACK_MINUTES", 30.0,
        "Lambda ingestion: each run asks for news published in this many last minutes; ids "
        "already published are skipped.", gt=0)
    news_seen_ttl_days: float = _env(
        "TRADEFLOW_INGEST_NEWS_SEEN_TTL_DAYS", 2.0,
        "Lambda ingestion: days a published news id is remembered (DynamoDB TTL); must exceed "
        "the news lookback.", gt=0)


@lru_cache(maxsize=1)
def get_aws_settings() -> AwsSettings:
    return AwsSettings()


# --- the dashboard ------------------------------------------------------------------------

class DashboardSettings(SettingsBase):
    dashboard_host: str = _env(
        "TRADEFLOW_DASHBOARD_HOST", "127.0.0.1",
        "Dashboard: address the web server listens on (`0.0.0.0` to reach it from other machines, "
        "which requires `TRADEFLOW_DASHBOARD_TOKEN`).")
    dashboard_port: int = _env(
        "TRADEFLOW_DASHBOARD_PORT", 8000,
        "Dashboard: port of the web page, its websocket (`/ws`), `/api/summary`, `/healthz` and "
        "`/metrics`.", ge=0, le=65535)
    dashboard_allowed_origins: str = _env(
        "TRADEFLOW_DASHBOARD_ALLOWED_ORIGINS", "",
        "Dashboard: comma-separated origins (`scheme://host[:port]`) whose pages may use the "
        "websocket and JSON endpoints, besides its own address (`http://HOST:PORT` and its "
        "`localhost`/`127.0.0.1`/`[::1]` equivalents); a request whose `Host` is none of these "
        "is refused too (403). Behind a proxy or an Ingress, list the address the browser uses, "
        "e.g. `https://tradeflow.example.com`.")
    dashboard_token: SecretStr | None = _env(
        "TRADEFLOW_DASHBOARD_TOKEN", None,
        "Dashboard: access token, required when `TRADEFLOW_DASHBOARD_HOST` is not a loopback "
        "address (it refuses to start without one). Open the page once as `/?token=...` (kept in "
        "an HttpOnly cookie) or send `Authorization: Bearer ...`; `/healthz` and `/metrics` stay "
        "open to loopback clients.")

    dashboard_lookback: str = _env(
        "TRADEFLOW_DASHBOARD_LOOKBACK", "24h",
        "Dashboard: where it starts reading the topics when `--start` is not given: the records "
        "appended in this look-back (`30m`, `6h`, `2d`; by whole segments on the file backend), "
        "`earliest` (everything the topics hold) or `latest` (only new records).")

    @field_validator("dashboard_lookback")
    @classmethod
    def _lookback_valid(cls, v: str) -> str:
        if v.strip() not in ("earliest", "latest"):
            durations.seconds(v)  # its ValueError is the one-line message
        return v

    @field_validator("dashboard_allowed_origins")
    @classmethod
    def _origins_valid(cls, v: str) -> str:
        for o in (x.strip() for x in v.split(",")):
            if o and normalize_origin(o) is None:
                raise ValueError(f"bad origin {o!r}: give scheme://host[:port], e.g. "
                                 "https://tradeflow.example.com")
        return v

    @model_validator(mode="after")
    def _token_when_exposed(self) -> "DashboardSettings":
        problem = exposure_problem(self.dashboard_host, self.dashboard_token)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def origin_list(self) -> tuple[str, ...]:
        return tuple(normalize_origin(o.strip()) or "" for o in
                     self.dashboard_allowed_origins.split(",") if o.strip())

    @property
    def token(self) -> str | None:
        return self.dashboard_token.get_secret_value() if self.dashboard_token else None


def is_loopback(host: str) -> bool:
    """Whether a listen address only accepts connections from this machine."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # a host name, "" or 0.0.0.0-like wildcards: reachable from elsewhere


def exposure_problem(host: str, token: SecretStr | str | None) -> str | None:
    """One line saying why the dashboard must not listen on `host` as configured, or None."""
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not is_loopback(host) and not (value and value.strip()):
        return (f"the dashboard listens on {host or 'all interfaces'!s}, not a loopback address: "
                "set TRADEFLOW_DASHBOARD_TOKEN (or listen on 127.0.0.1)")
    return None


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` lower-cased, default port dropped; None if not an http(s) origin."""
    from urllib.parse import urlsplit

    try:
        u = urlsplit(origin.strip())
        port = u.port
    except ValueError:
        return None
    if u.scheme not in ("http", "https") or not u.hostname or u.path not in ("", "/") \
            or u.query or u.fragment or u.username or u.password:
        return None
    host = u.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == {"http": 80, "https": 443}[u.scheme]:
        return f"{u.scheme}://{host}"
    return f"{u.scheme}://{host}:{port}"


@lru_cache(maxsize=1)
def get_dashboard_settings() -> DashboardSettings:
    return DashboardSettings()


# --- the streaming job's process and the tools ------------------------------------------------
# The submitters (`tradeflow job submit`, the compose submitter) set the first ones for the job's
# client process that `flink run` starts; a person rarely does.

class JobSettings(SettingsBase):
    job_name: str = _env(
        "TRADEFLOW_JOB_NAME", "tradeflow-signals",
        "Streaming job: its name in Flink (a submitter does not start a second job of this name).")
    job_parallelism: int = _env(
        "TRADEFLOW_JOB_PARALLELISM", 1, "Streaming job: its parallelism.", ge=1)
    topics_dir: Path | None = _env(
        "TRADEFLOW_TOPICS_DIR", None,
        "Streaming job on the file backend: the topics' directory (set by `tradeflow job submit`).")
    checkpoints_dir: Path | None = _env(
        "TRADEFLOW_CHECKPOINTS_DIR", None,
        "Streaming job: checkpoints go to this job version's directory under it (set by the "
        "submitters, which resume from there). Unset = the cluster's configured directory.")
    flink_properties: Path | None = _env(
        "TRADEFLOW_FLINK_PROPERTIES", None,
        "The Managed Flink application's runtime properties file when not on AWS (a JSON list "
        "of property groups, as AWS writes it), e.g. to run the packaged app locally.")
    chromium: Path | None = _env(
        "TRADEFLOW_CHROMIUM", None,
        "Tools: the Chromium binary the screenshot tool and the browser tests drive. Unset = the "
        "usual install paths, then `chromium` on the PATH.")


@lru_cache(maxsize=1)
def get_job_settings() -> JobSettings:
    return JobSettings()


# What this process's command line set (`--backend`, `--data-dir`): above the environment and
# `.env`. `tradeflow run` hands them to its services as the same flags.
_COMMAND_LINE: dict[str, Any] = {}


def set_command_line(**values: Any) -> None:
    """The shared settings the command line gives (None = not given), for the rest of this process."""
    _COMMAND_LINE.clear()
    _COMMAND_LINE.update({k: v for k, v in values.items() if v is not None})
    forget_settings()


def command_line_args(settings: Settings) -> list[str]:
    """The flags that give a child `tradeflow` process these settings' backend and data directory."""
    return ["--backend", settings.backend.value, "--data-dir", str(settings.data_dir.resolve())]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings().with_values(**_COMMAND_LINE) if _COMMAND_LINE else Settings()


SETTINGS_CLASSES = (Settings, ConsumerSettings, DashboardSettings, AwsSettings, JobSettings)


def forget_settings() -> None:
    """Read every setting from the environment again at the next use (after it changed)."""
    for getter in (get_settings, get_consumer_settings, get_dashboard_settings, get_aws_settings,
                   get_job_settings):
        getter.cache_clear()


def settings_lines() -> list[str]:
    """`VARIABLE=value` for every setting of every service, as the environment makes them:
    secrets as ********, unset as nothing after the `=`."""
    lines = []
    for model in SETTINGS_CLASSES:
        values = get_settings() if model is Settings else model()
        for name, field in model.model_fields.items():
            value = getattr(values, name)
            shown = ("" if value is None else value.value if isinstance(value, Enum)
                     else str(value))  # SecretStr's str is ********
            lines.append(f"{field.validation_alias.choices[0]}={shown}")  # type: ignore[union-attr]
    return lines


def settings_markdown() -> str:
    """The README's configuration table, straight from the fields above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for model in SETTINGS_CLASSES:
        for field in model.model_fields.values():
            name = field.validation_alias.choices[0]  # type: ignore[union-attr]
            default = field.default
            if isinstance(default, Enum):
                default = default.value
            shown = "unset" if default is None else "empty" if default == "" else f"`{default}`"
            rows.append(f"| `{name}` | {shown} | {field.description} |")
    return "\n".join(rows)
