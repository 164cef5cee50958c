"""`tradeflow parity`: the backtest and the live run take the same decisions on the same data.

What a run recorded on `stock-prices` and `market-news` is replayed through the bounded signal
job and, with the signals that gives, through the trading engine as the backtest drives it
(execution.py). The result is compared with what the run recorded: the ids on `trading-signals`,
each decision in the consumer's audit trail (approved or vetoed, and by which rule, side and
quantity), each order's last state on `orders`, and each fill (quantity, price, the bar it
filled in).

A run stops wherever Ctrl-C finds it, so only what it got to is compared: signals up to the last
one the job wrote, decisions and orders up to the last signal the consumer decided, the market
up to the last bar the consumer handled per symbol (saved in its store). What lies after is
counted and shown, not a difference. The comparison assumes the run started from an empty data
directory (the paper broker's cash and the engine's positions at the start are not recorded).
"""

from __future__ import annotations

import json
import math
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tradeflow.config import NEWS, ORDERS, PRICES, SIGNALS, ConsumerSettings, Settings
from tradeflow.contracts import (
    ContractError,
    NewsItem,
    Order,
    PriceBar,
    TradingSignal,
    parse,
)
from tradeflow.topics import Backend, read_all
from tradeflow.trading.audit import query
from tradeflow.trading.engine import BARS_SEEN_KEY
from tradeflow.trading.store import read_only

from .data import bars_frame
from .execution import Costs, ExecConfig, ExecutionResult, execute, last_orders
from .run import _write_ndjson, load_signals
from .workers import run_job

PRICE_TOLERANCE = 1e-9  # relative: both sides compute the same floats, this only absorbs JSON


class ParityError(Exception):
    """The data dir holds no run parity can replay (one line for the user)."""


@dataclass
class Recorded:
    """What a run left behind: its inputs, its outputs, and how far its consumer got."""

    bars: list[PriceBar]
    news: list[NewsItem]
    signals: dict[str, TradingSignal]
    decisions: dict[str, dict[str, Any]]  # by signal_id: the audit's decision detail
    orders: dict[str, Order]
    bars_seen: dict[str, datetime]  # per symbol, the last bar the consumer handled


@dataclass
class Report:
    compared: dict[str, int] = field(default_factory=dict)
    after_run: dict[str, int] = field(default_factory=dict)  # replayed past where the run stopped
    differences: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.differences.values())

    def lines(self, limit: int = 20) -> list[str]:
        out = ["compared: " + ", ".join(f"{n} {what}" for what, n in self.compared.items())]
        if any(self.after_run.values()):
            out.append("after the run stopped (replayed, not compared): " + ", ".join(
                f"{n} {what}" for what, n in self.after_run.items() if n))
        out.append(f"differences: {self.total}")
        for category, items in sorted(self.differences.items()):
            out.append(f"  {category}: {len(items)}")
            out += [f"    {item}" for item in items[:limit]]
            if len(items) > limit:
                out.append(f"    ... and {len(items) - limit} more")
        return out


def _valid(kind: type, records: Iterable[bytes]) -> list[Any]:
    """The records that pass the contract (the others were dead-lettered by the run too)."""
    out = []
    for raw in records:
        try:
            out.append(parse(kind, raw))
        except ContractError:
            continue
    return out


def read_run(backend: Backend, settings: Settings, consumer: ConsumerSettings) -> Recorded:
    """Read what the run recorded in its topics and its consumer's audit trail."""
    audit = consumer.audit_path(settings)
    if not audit.exists():
        raise ParityError(f"no consumer audit trail at {audit}: run the pipeline first "
                                f"(make run), then stop it and run parity on its data dir")
    # The audit trail first: what the topics hold after it is later, if the run still goes on.
    with read_only(audit) as conn:
        row = conn.execute("SELECT value FROM kv WHERE key=?", (BARS_SEEN_KEY,)).fetchone()
    seen: dict[str, str] = json.loads(row[0]) if row else {}
    decisions = {e["signal_id"]: json.loads(e["detail"])
                 for e in query(audit, kind="decision") if e["signal_id"]}
    signals = {s.signal_id: s for s in _valid(TradingSignal, read_all(backend, SIGNALS))}
    orders = last_orders(read_all(backend, ORDERS))
    brokers = sorted({o.broker for o in orders.values()} - {"paper"})
    if brokers:
        raise ParityError(f"the run traded on {', '.join(brokers)}: parity replays runs on the "
                          f"built-in paper broker only")
    return Recorded(
        bars=_valid(PriceBar, read_all(backend, PRICES)),
        news=_valid(NewsItem, read_all(backend, NEWS)),
        signals=signals, decisions=decisions, orders=orders,
        bars_seen={sym: datetime.fromisoformat(t) for sym, t in seen.items()})


@dataclass
class Replayed:
    signals: dict[str, TradingSignal]
    execution: ExecutionResult | None
    signals_after_run: int  # after the run's last recorded signal
    decisions_after_run: int  # after the run's last decided signal


def replay(rec: Recorded, work: Path, consumer: ConsumerSettings,
           run: Callable[[Path, Path], None] | None = None) -> Replayed:
    """The recorded inputs through the bounded job, then its signals through the engine over
    the bars the consumer had handled."""
    shutil.rmtree(work, ignore_errors=True)
    topics = work / "topics"
    _write_ndjson(topics / PRICES / "input.ndjson", rec.bars)
    _write_ndjson(topics / NEWS / "input.ndjson", rec.news)
    (run or (lambda t, o: run_job(t, o, indicators=False)))(topics, work / "run")
    replayed, _ = load_signals(work / "run")
    last_signal = max((s.bar_time for s in rec.signals.values()), default=None)
    decided = [rec.signals[i].bar_time for i in rec.decisions if i in rec.signals]
    last_decided = max(decided, default=None)
    signals = {s.signal_id: s for s in replayed
               if last_signal is not None and s.bar_time <= last_signal}
    to_trade = [s for s in replayed if last_decided is not None and s.bar_time <= last_decided]
    bars = [b for b in rec.bars if b.symbol in rec.bars_seen
            and b.event_time <= rec.bars_seen[b.symbol]]
    execution = None
    if bars:
        cfg = ExecConfig(cash=consumer.paper_cash,
                         costs=Costs(consumer.paper_slippage_bps, consumer.paper_fee_bps,
                                     consumer.paper_fee_per_order))
        execution = execute(bars_frame(bars), to_trade, cfg)
    return Replayed(signals, execution, len(replayed) - len(signals),
                    len(replayed) - len(to_trade))


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=PRICE_TOLERANCE, abs_tol=1e-12)


def compare(rec: Recorded, rep: Replayed) -> Report:
    """Every difference between the run and its replay, by category."""
    report = Report()
    diff = report.differences
    live_ids = set(rec.signals)
    report.compared["signals"] = len(live_ids | set(rep.signals))
    report.after_run["signals"] = rep.signals_after_run
    for sid in sorted(live_ids - set(rep.signals)):
        diff["signal only in the run"].append(_describe(rec.signals[sid]))
    for sid in sorted(set(rep.signals) - live_ids):
        diff["signal only in the replay"].append(_describe(rep.signals[sid]))

    ex = rep.execution
    replay_decisions = {d["signal_id"]: d for d in (ex.decisions if ex else [])}
    report.compared["decisions"] = len(set(rec.decisions) | set(replay_decisions))
    report.after_run["decisions"] = rep.decisions_after_run
    for sid in sorted(set(rec.decisions) | set(replay_decisions)):
        live, again = rec.decisions.get(sid), replay_decisions.get(sid)
        if live is None or again is None:
            where = "the run" if again is None else "the replay"
            diff[f"decision only in {where}"].append(sid)
            continue
        if "of the wall clock" in live["reason"] and live["rule"] != again["rule"]:
            # Refused against the wall clock, which a replay cannot have: see the README.
            diff["vetoed on the wall clock"].append(f"{sid}: {live['reason']}")
            continue
        for key in ("rule", "side"):
            if live[key] != again[key]:
                diff[f"decision {key}"].append(f"{sid}: run {live[key]!r}, replay {again[key]!r}")
        if not _close(live["qty"] if live["approved"] else 0.0, again["qty"]):
            diff["decision qty"].append(f"{sid}: run {live['qty']}, replay {again['qty']}")

    again_orders = ex.orders if ex else {}
    report.compared["orders"] = len(set(rec.orders) | set(again_orders))
    report.compared["fills"] = sum(1 for o in rec.orders.values() if o.filled_qty > 0)
    for coid in sorted(set(rec.orders) | set(again_orders)):
        live_o, again_o = rec.orders.get(coid), again_orders.get(coid)
        if again_o is None and _after(rec, live_o):
            report.after_run["orders"] = report.after_run.get("orders", 0) + 1
            continue
        if live_o is None or again_o is None:
            where = "the run" if again_o is None else "the replay"
            diff[f"order only in {where}"].append(_describe_order(live_o or again_o))
            continue
        for key in ("symbol", "side", "order_type", "status", "exit_reason", "horizon_bars",
                    "fill_bar_time"):
            a, b = getattr(live_o, key), getattr(again_o, key)
            if a != b:
                diff[f"order {key}"].append(f"{coid}: run {_show(a)}, replay {_show(b)}")
        for key in ("qty", "filled_qty", "filled_avg_price", "stop_loss", "take_profit"):
            a, b = getattr(live_o, key), getattr(again_o, key)
            if not _close(a, b):
                what = "fill" if key.startswith("filled") else "order"
                diff[f"{what} {key}"].append(f"{coid}: run {a}, replay {b}")
    return report


def _after(rec: Recorded, o: Order | None) -> bool:
    """An order the run placed after what was read of its audit trail (a run still going)."""
    assert o is not None
    seen = rec.bars_seen.get(o.symbol)
    return o.signal_id not in rec.decisions or (
        seen is not None and o.bar_time is not None and o.bar_time > seen)


def _show(v: Any) -> str:
    return getattr(v, "value", None) or (v.isoformat() if isinstance(v, datetime) else repr(v))


def _describe(s: TradingSignal) -> str:
    return f"{s.signal_id} {s.symbol} {s.action.value} at {s.bar_time.isoformat()}"


def _describe_order(o: Order | None) -> str:
    assert o is not None
    return (f"{o.client_order_id} {o.symbol} {o.side.value} {o.qty:g} {o.status.value}"
            + (f" ({o.exit_reason})" if o.exit_reason else ""))
