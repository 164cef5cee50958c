"""Execute signals on history with the live trading logic: the shared risk manager and paper broker.

A signal is known when its bar closes, so it can trade no earlier than the NEXT bar of its
symbol: the order is decided and filled at that bar's open (never at the signal bar's close),
made worse by the slippage and charged the fees of the paper broker. The risk manager judges
the historical moment of that open: its clock is a signal clock set to the fill instant
(`RiskClock("signal")`, as the consumer runs the simulator), so staleness, market hours,
cooldowns and the trading day are those of the past, not of today.

Staleness: the live default (300 s) is kept for intraday bars: a next bar that comes minutes
late (a gap in the data) makes the signal stale. For daily bars the next open is the next
session's 09:30, 17.5 h to 3.7 days after the signal bar's 16:00 close, so the limit becomes
4 days (`--risk risk_stale_seconds=...` overrides either).

Everything else (sizing, exposure limits, one position per symbol, no shorting unless allowed,
the daily loss limit, the cooldown) is `tradeflow.trading.risk.RiskManager` unchanged, with the
consumer's settings (environment) plus the backtest's overrides.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from tradeflow.config import ConsumerSettings
from tradeflow.contracts import Order, OrderStatus, TradingSignal, build, to_wire_time
from tradeflow.trading.clock import RiskClock
from tradeflow.trading.executors.base import OrderRequest, client_order_id
from tradeflow.trading.executors.paper import PaperBroker
from tradeflow.trading.killswitch import KillSwitch
from tradeflow.trading.risk import RiskManager
from tradeflow.trading.store import FINAL, Store

from .data import bar_spacing, bar_start, is_daily

DAILY_STALE_SECONDS = 4 * 86_400.0
NO_NEXT_BAR = "no_next_bar"  # not a risk rule: the data ended before the signal could trade


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
    symbol: str
    side: str
    qty: float
    price: float  # what was paid or received per share (slippage included)
    market: float  # the bar's open the order filled against
    fee: float
    time: datetime  # the fill instant: the open of the bar after the signal bar
    bar_time: datetime  # end of the bar it filled in
    signal_bar_time: datetime
    opening: bool


@dataclass
class Trade:
    symbol: str
    side: str  # long | short
    qty: float
    entry_time: datetime
    entry_price: float
    exit_time: datetime | None
    exit_price: float | None  # the mark (last close) while open
    fees: float
    pnl: float
    return_pct: float
    bars_held: int
    open: bool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("entry_time", "exit_time"):
            d[k] = to_wire_time(d[k]) if d[k] is not None else None
        return d


@dataclass
class ExecutionResult:
    cash: float
    equity: pd.DataFrame  # per equity-grid time: equity, cash, gross_exposure, open_positions
    positions: pd.DataFrame  # per time, one column per symbol: signed quantity held
    fills: list[Fill]
    trades: list[Trade]
    decisions: list[dict[str, Any]]

    @property
    def rules(self) -> Counter[str]:
        return Counter(d["rule"] for d in self.decisions)


def consumer_settings(risk: dict[str, Any], daily: bool) -> ConsumerSettings:
    """The consumer's settings (environment) with the backtest's overrides, validated."""
    base = ConsumerSettings()
    aliases = {name: f.validation_alias.choices[0]  # type: ignore[union-attr]
               for name, f in ConsumerSettings.model_fields.items()}
    values = {aliases[k]: v for k, v in base.model_dump().items() if k in aliases}
    if daily and "risk_stale_seconds" not in risk:
        values[aliases["risk_stale_seconds"]] = max(base.risk_stale_seconds, DAILY_STALE_SECONDS)
    for key, value in risk.items():
        name = key if key in aliases else next((n for n, a in aliases.items() if a == key), None)
        if name is None:
            raise ValueError(f"unknown risk/consumer setting {key!r} (known: {', '.join(aliases)})")
        values[aliases[name]] = value
    # Only the given values: environment variables must not override the explicit ones.
    return ConsumerSettings.model_validate(values)


@contextmanager
def _quiet_risk_log() -> Iterator[None]:
    """The risk manager logs every veto; over years of history that is noise, the decisions
    are kept in DIR/decisions.jsonl instead."""
    logger = logging.getLogger("tradeflow.trading.risk")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


class _Book:
    """Round trips from fills: the risk manager keeps one position per symbol, opened and then
    closed whole, but partial closes and flips are handled too."""

    def __init__(self) -> None:
        self.open: dict[str, Trade] = {}
        self.done: list[Trade] = []
        self.bar_count: Counter[str] = Counter()
        self.entry_bar: dict[str, int] = {}

    def add(self, f: Fill) -> None:
        signed = f.qty if f.side == "buy" else -f.qty
        t = self.open.get(f.symbol)
        if t is None:
            self._open(f, signed, f.fee)
            return
        held = t.qty if t.side == "long" else -t.qty
        if (held > 0) == (signed > 0):  # adding: average in
            total = abs(held) + f.qty
            t.entry_price = (abs(held) * t.entry_price + f.qty * f.price) / total
            t.qty, t.fees = total, t.fees + f.fee
            return
        closed = min(abs(held), f.qty)
        share = closed / f.qty
        t_closed = Trade(t.symbol, t.side, closed, t.entry_time, t.entry_price, f.time, f.price,
                         t.fees * closed / t.qty + f.fee * share, 0.0, 0.0,
                         self.bar_count[f.symbol] - self.entry_bar[f.symbol], False)
        self._settle(t_closed)
        self.done.append(t_closed)
        rest = t.qty - closed
        if rest > 1e-12:
            t.fees *= rest / t.qty
            t.qty = rest
        else:
            del self.open[f.symbol]
        if f.qty - closed > 1e-12:  # flipped through zero
            self._open(f, (f.qty - closed) * (1 if signed > 0 else -1), f.fee * (1 - share))

    def _open(self, f: Fill, signed: float, fee: float) -> None:
        self.open[f.symbol] = Trade(f.symbol, "long" if signed > 0 else "short", abs(signed),
                                    f.time, f.price, None, None, fee, 0.0, 0.0, 0, True)
        self.entry_bar[f.symbol] = self.bar_count[f.symbol]

    @staticmethod
    def _settle(t: Trade) -> None:
        assert t.exit_price is not None
        direction = 1 if t.side == "long" else -1
        t.pnl = direction * t.qty * (t.exit_price - t.entry_price) - t.fees
        t.return_pct = t.pnl / (t.qty * t.entry_price)

    def finish(self, marks: dict[str, float], at: datetime | None) -> list[Trade]:
        """Closed trades, then the open ones marked at the last close (not liquidated)."""
        out = list(self.done)
        for sym, t in self.open.items():
            mark = Trade(**{**asdict(t), "exit_time": at, "exit_price": marks[sym],
                            "bars_held": self.bar_count[sym] - self.entry_bar[sym], "open": True})
            self._settle(mark)
            out.append(mark)
        return out


def execute(bars: pd.DataFrame, signals: Sequence[TradingSignal], cfg: ExecConfig | None = None,
            start: datetime | None = None, end: datetime | None = None) -> ExecutionResult:
    """Trade `signals` over `bars` (see data.bars_frame) between start and end (inclusive).

    Only bars and signals inside the window take part: a signal on the window's last bar of
    its symbol never trades (decision `no_next_bar`).
    """
    cfg = cfg or ExecConfig()
    window = bars
    if start is not None:
        window = window[window["time"] >= pd.Timestamp(start)]
    if end is not None:
        window = window[window["time"] <= pd.Timestamp(end)]
    daily = is_daily(bars)
    spacing = bar_spacing(bars)
    settings = consumer_settings(cfg.risk, daily)
    by_bar: dict[tuple[str, pd.Timestamp], list[TradingSignal]] = defaultdict(list)
    lo = window["time"].iloc[0] if len(window) else None
    hi = window["time"].iloc[-1] if len(window) else None
    for sig in signals:
        t = pd.Timestamp(sig.bar_time)
        if lo is not None and lo <= t <= hi:
            by_bar[(sig.symbol, t)].append(sig)

    with tempfile.TemporaryDirectory(prefix="tradeflow-backtest-") as tmp, _quiet_risk_log():
        store = Store(Path(":memory:"))
        broker = PaperBroker(None, cfg.cash, cfg.costs.slippage_bps, cfg.costs.fee_bps,
                             cfg.costs.fee_per_order)
        first = window["time"].iloc[0].to_pydatetime() if len(window) else datetime.now()
        clock = RiskClock("signal", wall=lambda: first)
        risk = RiskManager(settings, broker, store, KillSwitch(Path(tmp) / "KILL"), clock)
        try:
            return _run(window, by_bar, broker, store, risk, clock, cfg, daily, spacing)
        finally:
            store.close()


def _run(window: pd.DataFrame, by_bar: dict[tuple[str, pd.Timestamp], list[TradingSignal]],
         broker: PaperBroker, store: Store, risk: RiskManager, clock: RiskClock,
         cfg: ExecConfig, daily: bool, spacing: timedelta) -> ExecutionResult:
    pending: dict[str, list[TradingSignal]] = {}
    fills: list[Fill] = []
    decisions: list[dict[str, Any]] = []
    book = _Book()
    marks: dict[str, float] = {}
    eq_rows: list[tuple[Any, ...]] = []
    pos_rows: list[dict[str, float]] = []
    times: list[pd.Timestamp] = []
    symbols = sorted(window["symbol"].unique())

    def snapshot(t: pd.Timestamp) -> None:
        acct = broker.account()
        gross = sum(abs(p.market_value) for p in acct.positions.values())
        times.append(t)
        eq_rows.append((acct.equity, acct.cash, gross, len(acct.positions)))
        pos_rows.append({s: p.qty for s, p in acct.positions.items()})

    current: pd.Timestamp | None = None
    for sym, t, o, c in window[["symbol", "time", "open", "close"]].itertuples(index=False):
        if current is not None and t != current:
            snapshot(current)
        current = t
        book.bar_count[sym] += 1
        bar_end = t.to_pydatetime()
        waiting = pending.pop(sym, None)
        if waiting:
            # never before the signal's own bar end, whatever the estimated bar length says
            instant = max(bar_start(bar_end, spacing, daily), max(s.bar_time for s in waiting))
            clock.observe(instant)
            broker.observe_price(sym, float(o), instant)  # the account as it stands at the open
            for sig in waiting:
                fill = _decide(sig, float(o), instant, bar_end, risk, broker, store, decisions)
                if fill is not None:
                    fills.append(fill)
                    book.add(fill)
        broker.observe_price(sym, float(c), bar_end)
        marks[sym] = float(c)
        new = by_bar.get((sym, t))
        if new:
            pending[sym] = new
    if current is not None:
        snapshot(current)
    for sigs in pending.values():
        for sig in sigs:
            decisions.append(_decision_row(sig, None, NO_NEXT_BAR,
                                           "the data ends before the next bar of the symbol"))
    decisions.sort(key=lambda d: (d["bar_time"], d["symbol"]))
    index = pd.DatetimeIndex(times, name="time")
    equity = pd.DataFrame(eq_rows, index=index,
                          columns=["equity", "cash", "gross_exposure", "open_positions"])
    positions = pd.DataFrame(pos_rows, index=index, columns=symbols).fillna(0.0)
    last = times[-1].to_pydatetime() if times else None
    return ExecutionResult(cfg.cash, equity, positions, fills, book.finish(marks, last), decisions)


def _decision_row(sig: TradingSignal, at: datetime | None, rule: str, reason: str,
                  **extra: Any) -> dict[str, Any]:
    return {"signal_id": sig.signal_id, "symbol": sig.symbol, "action": sig.action.value,
            "confidence": sig.confidence, "bar_time": to_wire_time(sig.bar_time),
            "decided_at": to_wire_time(at) if at else None, "rule": rule, "reason": reason,
            **extra}


def _decide(sig: TradingSignal, open_price: float, instant: datetime, bar_end: datetime,
            risk: RiskManager, broker: PaperBroker, store: Store,
            decisions: list[dict[str, Any]]) -> Fill | None:
    """What the consumer does with one signal, at the historical instant of the next open."""
    if store.is_processed(sig.signal_id):
        decisions.append(_decision_row(sig, instant, "duplicate", "signal_id already decided"))
        return None
    d = risk.evaluate(sig)
    fill = None
    if d.approved:
        assert d.side is not None
        coid = client_order_id(sig.signal_id)
        order = build(Order, client_order_id=coid, signal_id=sig.signal_id, symbol=sig.symbol,
                      side=d.side, qty=d.qty, order_type="market", status=OrderStatus.new,
                      broker=broker.name, submitted_at=instant, updated_at=instant,
                      detail=d.reason)
        # Stored like the consumer stores it: the cooldown rule reads the last order's time.
        store.insert_order(order, open_price, instant, instant)
        bo = broker.submit(OrderRequest(coid, sig.signal_id, sig.symbol, d.side, d.qty,
                                        open_price))
        store.update_order(order.model_copy(update={
            "status": bo.status, "broker_order_id": bo.broker_order_id,
            "filled_qty": bo.filled_qty, "filled_avg_price": bo.filled_avg_price}), FINAL)
        fill = Fill(sig.signal_id, sig.symbol, d.side.value, bo.filled_qty,
                    float(bo.filled_avg_price or open_price), open_price,
                    float(bo.raw.get("fee", 0.0)), instant, bar_end, sig.bar_time, d.opening)
    store.mark_processed(sig.signal_id, instant, d.approved, d.rule,
                         client_order_id(sig.signal_id) if d.approved else None)
    decisions.append(_decision_row(
        sig, instant, d.rule, d.reason,
        side=d.side.value if d.side else None, qty=d.qty if d.approved else 0.0,
        fill_price=fill.price if fill else None, fee=fill.fee if fill else None))
    return fill

