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


def _round_trips(broker: PaperBroker, n: int, first: int = 0) -> list[int]:
    """Buy and sell MSFT `n` times (a fill each); the journal's size after each fill."""
    sizes = []
    for i in range(first, first + n):
        side = OrderSide.buy if i % 2 == 0 else OrderSide.sell
        broker.submit(OrderRequest(f"tf-{i}", f"s-{i}", "MSFT", side, 1, 300.0,
                                   not_before=IN_SESSION + timedelta(minutes=i)))
        market(broker, "MSFT", i + 1, 300.0 + i % 7)
        sizes.append(broker.path.stat().st_size)
    return sizes


def test_a_fill_writes_the_same_few_bytes_however_many_orders_came_before(tmp_path):
    """The account is a journal: each change appends one line with the orders it changed, so
    the 400th fill writes no more than the 2nd (a rewrite of the whole file grew with every
    order: 2,000 fills took 46 s). Reloading gives the account the fills left."""
    broker = PaperBroker(tmp_path / "paper.json", cash=10_000)
    sizes = _round_trips(broker, 400)
    growth = [b - a for a, b in zip(sizes, sizes[1:])]
    assert max(growth[-50:]) < 1.2 * max(growth[:50])
    again = PaperBroker(tmp_path / "paper.json")
    assert len(again.state["orders"]) == 400 and again.account().positions == {}
    assert again.summary() == pytest.approx(broker.summary())


def test_the_journal_is_compacted_by_its_writer_only(tmp_path, monkeypatch):
    monkeypatch.setattr("tradeflow.trading.executors.paper.COMPACT_LINES", 20)
    path = tmp_path / "paper.json"
    before = PaperBroker(path, cash=10_000)
    _round_trips(before, 30)
    lines = len(path.read_bytes().splitlines())
    PaperBroker(path)  # a reader (status, the dashboard) never writes
    assert len(path.read_bytes().splitlines()) == lines > 20
    writer = PaperBroker(path, writer=True)
    assert len(path.read_bytes().splitlines()) == 1
    assert writer.summary() == pytest.approx(before.summary())
    assert writer.state["orders"] == before.state["orders"]


def test_an_account_file_of_the_old_format_and_a_torn_last_line_are_read(tmp_path):
    import json

    path = tmp_path / "paper.json"
    broker = PaperBroker(path, cash=10_000)
    _round_trips(broker, 3)
    state = {**broker.state, "orders": broker.state["orders"]}
    path.write_text(json.dumps(state, indent=1))  # one object on many lines, as before
    assert PaperBroker(path).summary() == pytest.approx(broker.summary())
    old = PaperBroker(path, writer=True)  # the consumer rewrites it as a journal, then appends
    assert old.summary() == pytest.approx(broker.summary()) and len(old.state["orders"]) == 3
    assert len(path.read_bytes().splitlines()) == 1
    _round_trips(old, 1, first=3)
    with open(path, "ab") as f:
        f.write(b'{"cash": 1, "orders": {"tf-9": {')  # a crash in mid-append
    assert len(PaperBroker(path).state["orders"]) == 4


def test_a_corrupt_account_file_is_one_line_naming_it(tmp_path, h):
    from click.testing import CliRunner

    from consumer.cli import consume
    from tradeflow.trading.executors.paper import PaperStateError

    path = tmp_path / "paper.json"
    path.write_bytes(b'{"cash": 1, "orders": {}}\nnot json\n{"cash": 2}\n')
    with pytest.raises(PaperStateError, match="line 2 is not JSON"):
        PaperBroker(path)
    settings, _ = h.settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "paper-broker.json").write_bytes(b"[1, 2]\n")
    result = CliRunner().invoke(consume, ["--once"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (f"Error: paper account {settings.data_dir / 'paper-broker.json'}"
                                     " is not a paper broker's journal; move it away to start a "
                                     "fresh account")
