"""Execute signals on history with the live trading engine: the consumer's `SignalEngine`, risk
manager and paper broker, driven over the bars in time order.

Per bar end, as live: first every bar that ends then (the paper broker fills orders at their
open, works the bracket legs, the engine counts bars to each position's horizon and closes the
expired ones), then every signal of that moment (decided at its bar's end, on the signal clock:
`RiskClock("signal")`, so staleness, market hours, cooldowns and the trading day are those of the
past). An approved order fills at the open of its symbol's next bar, worse by the slippage, plus
fees; a signal on its symbol's last bar in the window never fills. Positions exit on the first of
stop, target, horizon or an opposite signal (tradeflow/trading/exits.py).

Daily bars: a signal is decided at the bar's end (16:00 New York, after the close), and its order
waits for the next session's open, as a market-on-open order would: the market-hours rule is off
unless given (`--risk risk_market_hours=true`).

Everything else (sizing, exposure limits, one position per symbol, no shorting unless allowed,
the daily loss and drawdown limits, the cooldown) is the consumer's, with its settings
(environment) plus the backtest's overrides. The engine's other ports are this world's: an
in-memory store and audit trail, a recorder for the topics, no notifier, a kill switch never set.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd

from tradeflow.config import ORDERS, ConsumerSettings
from tradeflow.contracts import Order, OrderStatus, TradingSignal, parse, to_wire_time
from tradeflow.topics import Backend, BackendError
from tradeflow.trading.audit import MemoryAudit
from tradeflow.trading.clock import RiskClock
from tradeflow.trading.engine import SignalEngine
from tradeflow.trading.executors.base import client_order_id
from tradeflow.trading.executors.paper import PaperBroker
from tradeflow.trading.exits import Trade
from tradeflow.trading.killswitch import KillState
from tradeflow.trading.notifiers.base import Silent
from tradeflow.trading.store import MemoryStore

from .data import is_daily


class HistoryBar(NamedTuple):
    """A bar of history as the engine reads it (executors.base.MarketBar)."""

    symbol: str
    event_time: datetime
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class Costs:
    """Paper-broker costs: slippage worsens every fill; fees are per order plus bps of its value."""

    slippage_bps: float = 5.0
    fee_bps: float = 0.0
    fee_per_order: float = 0.0


@dataclass(frozen=True)
class ExecConfig:
    cash: float = 100_000.0
    costs: Costs = field(default_factory=Costs)
    # ConsumerSettings overrides by field name (risk_min_confidence=0.5, sizing_fraction=0.1, ...)
    risk: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fill:
    signal_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: float
    price: float  # what was paid or received per share (slippage included)
    fee: float
    time: datetime  # the fill instant: a bar's open, or the end of the bar a stop or target hit
    bar_time: datetime  # end of the bar it filled in
    decided_bar_time: datetime | None  # end of the bar it was decided on
    exit_reason: str | None  # None: it opened a position


@dataclass
class ExecutionResult:
    cash: float
    equity: pd.DataFrame  # per equity-grid time: equity, cash, gross_exposure, open_positions
    positions: pd.DataFrame  # per time, one column per symbol: signed quantity held
    fills: list[Fill]
    trades: list[Trade]
    decisions: list[dict[str, Any]]
    orders: dict[str, Order]  # by client_order_id, as last published on `orders`

    @property
    def rules(self) -> Counter[str]:
        return Counter(d["rule"] for d in self.decisions)


def consumer_settings(risk: dict[str, Any], daily: bool) -> ConsumerSettings:
    """The consumer's settings (environment) with the backtest's overrides (by field or variable
    name), validated; on daily bars the market-hours rule is off unless given (see the module
    doc)."""
    if daily and not any(ConsumerSettings.variable(k) == "TRADEFLOW_RISK_MARKET_HOURS"
                         for k in risk):
        risk = {"risk_market_hours": False, **risk}
    return ConsumerSettings().with_values(**risk)


class _Recorder(Backend):
    """The topics of a backtest: what the engine publishes, kept in order (`orders`)."""

    name = "backtest"

    def __init__(self) -> None:
        self.records: dict[str, list[bytes]] = defaultdict(list)

    def publish(self, topic: str, records: Any) -> int:
        n = 0
        for r in records:
            self.records[topic].append(r.value)
            n += 1
        return n

    def subscribe(self, topic: str, group: str, start: Any = "earliest") -> Any:
        raise BackendError("a backtest's topics are written, not read")

    def read(self, topic: str, from_beginning: bool = False) -> Any:
        raise BackendError("a backtest's topics are written, not read")


class _NoKillSwitch:
    """History has nobody to pull a kill switch: never engaged, and nothing to look at per signal
    (the live one checks its file before every order)."""

    path = ""
    engaged = False
    _never = KillState(False)

    def state(self) -> KillState:
        return self._never


@contextmanager
def _quiet_engine_log() -> Iterator[None]:
    """The engine logs every veto, order and exit; over years of history that is noise: the
    decisions, fills and trades are kept in DIR/ instead."""
    loggers = [logging.getLogger(n) for n in ("tradeflow.trading.risk", "consumer")]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, before):
            lg.setLevel(level)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The engine makes a few objects per bar and per signal, which reference counting frees;
    with the default thresholds the cycle collector still runs every 700 of them and keeps
    walking the long-lived ones (bars, signals, the audit trail): about a fifth of a long run.
    Every 50,000 allocations is often enough for the cycles there are."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def execute(bars: pd.DataFrame, signals: Sequence[TradingSignal], cfg: ExecConfig | None = None,
            start: datetime | None = None, end: datetime | None = None,
            daily: bool | None = None) -> ExecutionResult:
    """Trade `signals` over `bars` (see data.bars_frame) between start and end (inclusive).
    `daily`: whether the bars are daily (data.is_daily), when the caller knows already."""
    cfg = cfg or ExecConfig()
    window = bars
    if start is not None:
        window = window[window["time"] >= pd.Timestamp(start)]
    if end is not None:
        window = window[window["time"] <= pd.Timestamp(end)]
    settings = consumer_settings(cfg.risk, is_daily(bars) if daily is None else daily)
    by_time: dict[datetime, list[TradingSignal]] = defaultdict(list)
    if len(window):
        lo, hi = (window["time"].iloc[i].to_pydatetime() for i in (0, -1))
        for sig in signals:
            if lo <= sig.bar_time <= hi:
                by_time[sig.bar_time].append(sig)
    for same_bar in by_time.values():
        same_bar.sort(key=lambda sig: sig.symbol)  # as the consumer decides them

    with _quiet_engine_log(), _fewer_collections():
        now = [window["time"].iloc[0].to_pydatetime() if len(window) else datetime.now()]
        broker = PaperBroker(None, cfg.cash, cfg.costs.slippage_bps, cfg.costs.fee_bps,
                             cfg.costs.fee_per_order)
        audit, topics = MemoryAudit(), _Recorder()
        engine = SignalEngine(settings, topics, broker, Silent(), MemoryStore(),
                              _NoKillSwitch(),  # type: ignore[arg-type]
                              RiskClock("signal", wall=lambda: now[0]),
                              wall=lambda: now[0], audit=audit, component="backtest")
        try:
            return _run(window, by_time, engine, broker, audit, topics, cfg, now)
        finally:
            engine.store.close()


def _run(window: pd.DataFrame, by_time: dict[datetime, list[TradingSignal]],
         engine: SignalEngine, broker: PaperBroker, audit: MemoryAudit, topics: _Recorder,
         cfg: ExecConfig, now: list[datetime]) -> ExecutionResult:
    eq_rows: list[tuple[Any, ...]] = []
    pos_rows: list[dict[str, float]] = []
    times: list[datetime] = []
    marks: dict[str, float] = {}
    symbols = sorted(window["symbol"].unique())
    def close_time(t: datetime) -> None:
        """Every bar ending at `t` is in: its signals are decided, and the account recorded."""
        for sig in by_time.get(t, ()):
            engine.handle(sig)
        book, cash = broker.book, broker.state["cash"]
        times.append(t)
        eq_rows.append((cash + book.market_value, cash, book.gross_exposure, len(book.holdings)))
        pos_rows.append({s: h.qty for s, h in book.holdings.items()})

    current: datetime | None = None
    columns = [window[c].tolist() for c in ("symbol", "open", "high", "low", "close")]
    ends = pd.DatetimeIndex(window["time"]).to_pydatetime().tolist()  # sorted; plain datetimes
    for t, sym, o, h, low, c in zip(ends, *columns):
        if t != current:
            if current is not None:
                close_time(current)
            current = now[0] = t
        engine.handle_bar(HistoryBar(sym, t, o, h, low, c))
        marks[sym] = c
    if current is not None:
        close_time(current)
    index = pd.DatetimeIndex(times, name="time")
    equity = pd.DataFrame(eq_rows, index=index,
                          columns=["equity", "cash", "gross_exposure", "open_positions"])
    positions = pd.DataFrame(pos_rows, index=index, columns=symbols).fillna(0.0)
    orders = last_orders(topics.records[ORDERS])
    fills = _fills(orders, broker)
    trades = [Trade.from_dict(d) for d, _ in audit.of_kind("trade_closed")]
    last = times[-1] if times else None
    for trade in engine.trades.values():  # still open: marked at the last close, not sold
        trade.exit_price, trade.exit_time = marks[trade.symbol], last
        trades.append(trade)
    trades.sort(key=lambda tr: (tr.entry_time, tr.symbol))
    return ExecutionResult(cfg.cash, equity, positions, fills, trades,
                           _decisions(audit, fills), orders)


def last_orders(records: Iterable[bytes]) -> dict[str, Order]:
    """Each order's last state among `orders` records, by client_order_id."""
    last: dict[str, Order] = {}
    for raw in records:
        o = parse(Order, raw)
        last[o.client_order_id] = o
    return last


def _fills(last: dict[str, Order], broker: PaperBroker) -> list[Fill]:
    """Every fill, from the `orders` records as the engine published them (the last per order),
    with the fee the paper broker charged."""
    fees: dict[str, float] = {}
    for o in broker.state["orders"].values():
        fees[o["client_order_id"]] = o["fee"]
        for leg in o.get("legs", ()):
            fees[f"{o['client_order_id']}-{leg['reason']}"] = leg["fee"]
    out = [Fill(o.signal_id, o.client_order_id, o.symbol, o.side.value, o.filled_qty,
                float(o.filled_avg_price or 0.0), fees.get(o.client_order_id, 0.0),
                o.filled_at or o.updated_at, o.fill_bar_time or o.updated_at, o.bar_time,
                o.exit_reason)
           for o in last.values() if o.status is OrderStatus.filled]
    return sorted(out, key=lambda f: (f.time, f.symbol))


def _decisions(audit: MemoryAudit, fills: list[Fill]) -> list[dict[str, Any]]:
    """Every signal's risk decision, vetoes included, with the fill of its order if any."""
    # the engine records each signal as the contract record it decided on
    signals: dict[str, TradingSignal] = {ids["signal_id"]: d  # type: ignore[misc]
                                         for d, ids in audit.of_kind("signal")}
    filled = {f.client_order_id: f for f in fills}
    rows = []
    for d, ids in audit.of_kind("decision"):
        sig = signals[ids["signal_id"]]
        f = filled.get(client_order_id(ids["signal_id"])) if d["approved"] else None
        rows.append({"signal_id": ids["signal_id"], "symbol": ids["symbol"],
                     "action": sig.action.value, "confidence": sig.confidence,
                     "bar_time": to_wire_time(sig.bar_time), "decided_at": d["clock"],
                     "rule": d["rule"],
                     "reason": d["reason"], "side": d["side"],
                     "qty": d["qty"] if d["approved"] else 0.0,
                     "fill_price": f.price if f else None, "fee": f.fee if f else None})
    rows.sort(key=lambda r: (r["bar_time"], r["symbol"]))
    return rows
