"""The built-in paper broker: fills with slippage and fees, P&L, persistence, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tradeflow.trading.executors.base import OrderRequest
from tradeflow.trading.executors.paper import PaperBroker
from tests.consumer.conftest import IN_SESSION, bar, client_order_id, fill, line, statuses
from tradeflow.contracts import OrderSide, PriceBar, parse


def test_paper_flow_fills_and_keeps_the_account_across_restarts(h):
    c = h.consumer(TRADEFLOW_PAPER_SLIPPAGE_BPS="10", TRADEFLOW_PAPER_FEE_PER_ORDER="1")
    assert c.executor.name == "paper" and c.clock.mode == "signal"
    buy = line(signal_id="p-buy", price=100.0, bar_time=IN_SESSION)
    assert c.handle_raw(buy) == "approved"
    coid = client_order_id("p-buy")
    assert statuses(h.orders(), coid) == ["new", "accepted"]  # until the next bar opens
    c.handle_bar(parse(PriceBar, bar("AAPL", IN_SESSION + timedelta(minutes=1), 100.0)))
    assert statuses(h.orders(), coid) == ["new", "accepted", "filled"]
    filled = h.orders()[-1]
    assert filled.broker == "paper" and filled.qty == 20  # 2% of 100k at 100
    assert filled.filled_avg_price == pytest.approx(100.1)  # 10 bps worse for a buyer
    c.close()

    # A restart keeps cash and positions; a later price marks them (unrealised P&L).
    c2 = h.consumer()
    acct = c2.executor.account()
    assert acct.positions["AAPL"].qty == 20
    assert acct.cash == pytest.approx(100_000 - 20 * 100.1 - 1)
    sell = line(signal_id="p-sell", action="SELL", price=110.0,
                bar_time=IN_SESSION + timedelta(minutes=10))
    assert fill(c2, sell) == "approved"
    summary = c2.executor.summary()
    assert "AAPL" not in c2.executor.account().positions
    assert summary["realized_pnl"] == pytest.approx(20 * (110 * 0.999 - 100.1))
    assert summary["fees"] == pytest.approx(2.0)
    assert summary["equity"] == pytest.approx(100_000 + summary["realized_pnl"] - 2.0)


def market(broker: PaperBroker, symbol: str, minute: int, open_: float) -> None:
    broker.on_bar(parse(PriceBar, bar(symbol, IN_SESSION + timedelta(minutes=minute), open_)))


def test_paper_broker_is_idempotent_by_client_order_id(tmp_path):
    broker = PaperBroker(tmp_path / "paper.json")
    req = OrderRequest("tf-x", "sig-x", "MSFT", OrderSide.buy, 10, 300.0, not_before=IN_SESSION)
    first = broker.submit(req)
    market(broker, "MSFT", 1, 300.0)
    again = PaperBroker(tmp_path / "paper.json").submit(req)  # even after a restart
    assert again.broker_order_id == first.broker_order_id
    assert PaperBroker(tmp_path / "paper.json").account().positions["MSFT"].qty == 10


def test_paper_short_and_cover_with_unrealised_pnl(tmp_path):
    broker = PaperBroker(tmp_path / "paper.json", cash=10_000)
    broker.submit(OrderRequest("tf-1", "s1", "SPY", OrderSide.sell, 10, 500.0,
                               not_before=IN_SESSION))
    market(broker, "SPY", 1, 500.0)
    broker.observe_price("SPY", 490.0, IN_SESSION)
    s = broker.summary()
    assert s["unrealized_pnl"] == pytest.approx(100.0) and s["equity"] == pytest.approx(10_100)
    broker.submit(OrderRequest("tf-2", "s2", "SPY", OrderSide.buy, 10, 480.0,
                               not_before=IN_SESSION + timedelta(minutes=1)))
    market(broker, "SPY", 2, 480.0)
    assert broker.summary()["realized_pnl"] == pytest.approx(200.0)
    assert broker.account().positions == {}
