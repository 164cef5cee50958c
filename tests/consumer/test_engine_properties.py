"""Properties of the trading engine over any sequence of signals and bars (hypothesis): a
position always has an exit plan the engine follows, no signal trades twice, nothing opens after
the kill switch, and the paper account's cash and positions add up to its fills."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.consumer.conftest import IN_SESSION
from tradeflow.config import ORDERS, ConsumerSettings
from tradeflow.contracts import Order, OrderStatus, PriceBar, TradingSignal, build, parse
from tradeflow.topics import Backend
from tradeflow.trading.audit import MemoryAudit
from tradeflow.trading.clock import RiskClock
from tradeflow.trading.engine import SignalEngine
from tradeflow.trading.executors.paper import PaperBroker
from tradeflow.trading.killswitch import KillSwitch
from tradeflow.trading.notifiers.base import Silent
from tradeflow.trading.store import Store

SYMBOLS = ("AAA", "BBB")


class Topics(Backend):
    name = "memory"

    def __init__(self) -> None:
        self.orders: list[Order] = []

    def publish(self, topic: str, records: Any) -> int:
        records = list(records)
        if topic == ORDERS:
            self.orders += [parse(Order, r.value) for r in records]
        return len(records)

    def subscribe(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError

    def read(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError


# One step of the market: per symbol a bar's move and maybe a signal on it.
step = st.fixed_dictionaries({
    "moves": st.tuples(*[st.floats(-0.04, 0.04) for _ in SYMBOLS]),
    "ranges": st.tuples(*[st.floats(0.0, 0.03) for _ in SYMBOLS]),
    "signal": st.one_of(st.none(), st.tuples(st.sampled_from(SYMBOLS),
                                             st.sampled_from(("BUY", "SELL")),
                                             st.floats(0.005, 0.05), st.floats(0.005, 0.08),
                                             st.integers(1, 12), st.booleans())),
})


def run(steps: list[dict[str, Any]], kill_at: int | None, tmp: Path,
        brackets: bool) -> tuple[SignalEngine, Topics, list[str], int | None]:
    s = ConsumerSettings.model_validate({
        "TRADEFLOW_RISK_COOLDOWN_SECONDS": 0, "TRADEFLOW_ALLOW_SHORT": True,
        "TRADEFLOW_BRACKET_ORDERS": brackets, "TRADEFLOW_FRACTIONAL_SHARES": True,
        "TRADEFLOW_RISK_MAX_OPEN_POSITIONS": 5})
    topics, now = Topics(), [IN_SESSION]
    kill = KillSwitch(tmp / "KILL")
    kill.release()
    engine = SignalEngine(s, topics, PaperBroker(None, 100_000.0, 5.0, 1.0, 0.5), Silent(),
                          Store(Path(":memory:")), kill,
                          RiskClock("signal", wall=lambda: now[0]), wall=lambda: now[0],
                          audit=MemoryAudit())
    price = {sym: 100.0 for sym in SYMBOLS}
    sent: list[str] = []
    killed_after: int | None = None
    for i, st_ in enumerate(steps):
        t = IN_SESSION + timedelta(minutes=i + 1)
        now[0] = t
        if kill_at is not None and i == kill_at:
            kill.engage("property test")
            killed_after = len(topics.orders)
        for sym, move, rng in zip(SYMBOLS, st_["moves"], st_["ranges"]):
            o = price[sym]
            c = max(o * (1 + move), 1.0)
            engine.handle_bar(build(PriceBar, symbol=sym, event_time=t, open=o,
                                    high=max(o, c) * (1 + rng), low=min(o, c) * (1 - rng),
                                    close=c, volume=1.0, source="test"))
            price[sym] = c
        if st_["signal"] is not None:
            sym, action, stop, target, horizon, dup = st_["signal"]
            p = price[sym]
            long = action == "BUY"
            sig = build(TradingSignal, signal_id=f"sig-{i}", symbol=sym, action=action,
                        strength="NORMAL", confidence=0.9, price=p, bar_time=t, emitted_at=t,
                        indicators={}, reason="property", strategy="test",
                        strategy_version="1",
                        stop_loss=p * (1 - stop) if long else p * (1 + stop),
                        take_profit=p * (1 + target) if long else p * (1 - target),
                        horizon_bars=horizon)
            engine.handle(sig)
            sent.append(sig.signal_id)
            if dup:  # a redelivery
                engine.handle(sig)
    return engine, topics, sent, killed_after


@pytest.mark.parametrize("brackets", [True, False])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=40),
       kill_at=st.one_of(st.none(), st.integers(0, 39)))
def test_engine_invariants(tmp_path: Path, brackets: bool, steps: list[dict[str, Any]],
                           kill_at: int | None) -> None:
    engine, topics, _, killed_after = run(steps, kill_at, tmp_path, brackets)
    broker: PaperBroker = engine.executor  # type: ignore[assignment]
    last = {o.client_order_id: o for o in topics.orders}

    # No position without an exit: every one is an open trade the engine follows, same size.
    followed = Counter()
    for tr in engine.trades.values():
        followed[tr.symbol] += tr.qty if tr.long else -tr.qty
    held = {sym: h.qty for sym, h in broker.book.holdings.items()}
    assert held == pytest.approx({k: v for k, v in followed.items() if v}), (held, followed)
    for tr in engine.trades.values():
        assert tr.horizon_bars is not None and tr.stop_loss is not None

    # No signal trades twice: one entry order per signal, filled at most once.
    entries = Counter(o.signal_id for o in last.values() if o.exit_reason is None)
    assert max(entries.values(), default=0) <= 1
    paper = broker.state["orders"]
    assert len(paper) == len({o["client_order_id"] for o in paper.values()})

    # Nothing opens after the kill switch: no entry is decided once it is engaged, and every
    # order tried after it (a horizon's close) is halted before reaching the broker.
    if killed_after is not None:
        after = topics.orders[killed_after:]
        assert not [o for o in after if o.status is OrderStatus.new and o.exit_reason is None]
        tried = {o.client_order_id for o in after if o.status is OrderStatus.new}
        assert all(last[c].status is OrderStatus.failed for c in tried)
        assert not tried & set(paper)

    # The account adds up: cash = start - sum(signed fill values) - fees.
    flows = 0.0
    for o in paper.values():
        fills = [(o["side"], o["filled_qty"], o["filled_avg_price"], o["fee"])]
        exit_side = "sell" if o["side"] == "buy" else "buy"
        fills += [(exit_side, leg["filled_qty"], leg["filled_avg_price"], leg["fee"])
                  for leg in o.get("legs", ())]
        for side, qty, px, fee in fills:
            if qty:
                flows += (qty * px if side == "buy" else -qty * px) + fee
    assert broker.state["cash"] == pytest.approx(100_000.0 - flows)
