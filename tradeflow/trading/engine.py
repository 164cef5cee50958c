"""The per-signal flow shared by the consumer service and the signal-executor Lambda.

For each signal, in this order:
  1. parse it (malformed: dead-letter with the reason, go on);
  2. skip it if its signal_id was already decided (a redelivery or a duplicate);
  3. ask the risk manager;
  4. in ONE store transaction: audit the signal and the decision, create the order (if any) as
     `pending`, and mark the signal_id processed;
  5. publish the order (`new`) and submit it; the broker is idempotent by client_order_id, so a
     retry or a restart can never place it twice; publish every status change until final;
  6. notify (after the order: a notifier failure never blocks or skips one).
And it follows every position it opened to its exit (tradeflow/trading/exits.py): each bar of
`stock-prices` goes to the broker (`on_bar`: the paper broker's market), then the engine picks up
fills, the bracket legs that filled (stop-loss, take-profit), counts the bars held and closes a
position at its horizon (cancelling its legs first); an opposite signal closes it too. Open
trades are kept in the store, so a restart follows them on; each one closed is audited
(`trade_closed`, with its exit reason) and its exit order published on `orders`.
How records arrive (a topic subscription in consumer/, a Kinesis event in lambdas/) and when
positions are committed is the caller's business; the store is the SQLite one or DynamoDB.
"""

from __future__ import annotations

import functools
import logging
import math
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tradeflow.config import ORDERS, PRICES, SIGNALS, BrokerChoice, ConsumerSettings, Settings
from tradeflow.config import RiskClock as ClockChoice
from tradeflow.contracts import (ContractError, Order, OrderSide, OrderStatus, PriceBar,
                                 TradingSignal, build, is_clock, parse, to_wire_time)
from tradeflow.deadletter import DeadLetters
from tradeflow.logs import install_masking, mask_bytes, register_secrets
from tradeflow.observability import RECORDS_PUBLISHED
from tradeflow.topics import Backend, BackendError, Record
from tradeflow.trading.audit import Audit, AuditTrail
from tradeflow.trading.clock import RiskClock, wall_now
from tradeflow.trading.executors.base import (BrokerError, BrokerOrder, BrokerRejected,
                                              BrokerUnavailable, Executor, ExitLeg, MarketBar,
                                              OrderHalted, OrderRequest, client_order_id)
from tradeflow.trading.exits import HORIZON, SIGNAL, Trade, trigger
from tradeflow.trading.killswitch import KillSwitch
from tradeflow.trading.metrics import BROKER_ERRORS, ORDER_RECORDS, SIGNAL_AGE, SIGNALS_HANDLED

# The counter of each (decision, rule): looked up once, not on every signal (a backtest's many).
_signals_handled = functools.lru_cache(maxsize=None)(SIGNALS_HANDLED.labels)
from tradeflow.trading.notifiers.base import Guarded, Notifier
from tradeflow.trading.risk import Decision, RiskManager
from tradeflow.trading.store import FINAL, OPEN, PENDING, Store, StoredOrder

log = logging.getLogger("consumer")
CLOCK_KEY = "signal_clock"
TRADES_KEY = "open_trades"
BARS_SEEN_KEY = "bars_seen"  # per symbol, the end of the last bar the engine has handled
RECENT_BARS = 500  # per symbol, as the paper broker keeps for late orders


class ConfigError(ValueError):
    """The consumer cannot start with these settings."""


class AlreadyDecided(Exception):
    """A store refused to record a signal as processed because it already is (a concurrent
    worker won the conditional write)."""


class SignalEngine:
    # Failures of the infrastructure: the caller stops without committing, so the record is
    # delivered again; anything else about one record is dead-lettered.
    infra_errors: tuple[type[BaseException], ...] = (BackendError, sqlite3.Error)

    def __init__(self, s: ConsumerSettings, backend: Backend, executor: Executor,
                 notifier: Notifier, store: Store, kill: KillSwitch, clock: RiskClock, *,
                 secrets: Iterable[str] = (), sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = wall_now, audit: AuditTrail | None = None,
                 component: str = "consumer") -> None:
        self.s = s
        self.backend = backend
        self.executor = executor
        self.store = store
        self.kill = kill
        self.clock = clock
        self.sleep, self.monotonic, self.wall = sleep, monotonic, wall
        # Secrets never leave the process: every log record, topic record, stored order, audit
        # event and notification goes through `tradeflow.logs.mask`, which knows these.
        secrets = list(secrets)
        register_secrets(*secrets)
        install_masking()
        # Another store (DynamoDB, for the Lambda) brings its own audit trail.
        self.audit: AuditTrail = audit if audit is not None else Audit(store, secrets)
        self.risk = RiskManager(s, executor, store, kill, clock)
        self.risk.quiet = notifier.name == "console"  # it prints each decision and order
        self.dead = DeadLetters(backend, component)
        self.notifier = Guarded(notifier, on_error=self._notify_failed)
        self.stats: Counter[str] = Counter()
        self._kill_seen: bool | None = None
        self._next_refresh = 0.0
        self._pending_retry: dict[str, tuple[float, float]] = {}
        # Open positions the engine follows, by their entry's client_order_id: the list under
        # TRADES_KEY, each trade under its own key (a bar rewrites one trade, not all).
        self.trades: dict[str, Trade] = {}
        for coid in store.get_json(TRADES_KEY) or []:  # type: ignore[union-attr]
            self.trades[coid] = Trade.from_dict(store.get_json(f"trade:{coid}"))  # type: ignore[arg-type]
        # The latest bars per symbol: a trade opened late catches up on them.
        self._recent: dict[str, deque[MarketBar]] = {}
        # Orders not final, per symbol: a bar of the symbol may fill them.
        self._working: dict[str, set[str]] = {}
        for stored in store.unfinished_orders():
            self._working.setdefault(stored.order.symbol, set()).add(stored.order.client_order_id)

    # --- one record -------------------------------------------------------------------------
    def handle_raw(self, raw: bytes | str, source_topic: str | None = SIGNALS) -> str:
        """Process one record; returns the outcome ("approved", the veto rule, "duplicate",
        "dead_letter")."""
        try:
            try:
                sig = parse(TradingSignal, raw)
            except ContractError as err:
                self.dead.send(raw, str(err), source_topic)
                self.audit.record("dead_letter", {"reason": str(err), "source": source_topic})
                self._count("dead_letter")
                return "dead_letter"
            return self.handle(sig)
        except self.infra_errors:
            raise  # infrastructure: stop without committing; a restart resumes safely
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the service
            log.exception("cannot process a signal")
            self.dead.send(raw, f"consumer error: {type(exc).__name__}: {exc}", source_topic)
            self._count("error")
            return "error"

    def handle(self, sig: TradingSignal) -> str:
        if self.store.is_processed(sig.signal_id):
            log.info("duplicate signal %s: already decided, ignored", sig.signal_id)
            self.audit.record("duplicate", {"signal_id": sig.signal_id},
                              signal_id=sig.signal_id, symbol=sig.symbol)
            self._count("duplicate")
            return "duplicate"
        # A bar_time too far ahead of the wall clock moves nothing (neither the signal clock nor
        # the paper broker's marks): the risk manager vetoes it, and later signals never know.
        if self.clock.ahead_of_wall(sig.bar_time) is None:
            if self.clock.observe(sig.bar_time) and self.clock.mode == "signal":
                self.store.put(CLOCK_KEY, to_wire_time(sig.bar_time))
            self.executor.observe_price(sig.symbol, sig.price, sig.bar_time)
        self._sync_trades(sig.symbol)  # a stop or target filled at the broker meanwhile
        decision = self.risk.evaluate(sig)
        # An opposite signal closes the position, not its bracket: the legs go first. One that
        # filled meanwhile already closed it, and the close would open the other way.
        still_open = (self._cancel_legs(sig.symbol) if decision.approved and not decision.opening
                      else True)
        try:
            order = self._decide(sig, decision)
        except AlreadyDecided:
            # Another worker recorded this signal between our check and our commit.
            log.info("duplicate signal %s: decided concurrently, ignored", sig.signal_id)
            self._count("duplicate")
            return "duplicate"
        SIGNAL_AGE.observe((self.wall() - sig.bar_time).total_seconds())
        self._count(decision.rule, "approved" if decision.approved else "vetoed")
        if order is None:
            self.notifier.decision(sig, decision, None)
            return decision.rule
        self._publish(order)
        if order.exit_reason == SIGNAL:
            if not still_open:
                order = self._failed(order, OrderStatus.failed, "not sent: the position was "
                                     "closed by its stop or target meanwhile",
                                     BrokerError("position already closed"), notify=False)
                self.notifier.decision(sig, decision, order)
                return decision.rule
            closing = [t for t in self.trades.values() if t.symbol == sig.symbol]
            for trade in closing:
                trade.exit_order = order.client_order_id
            self._save_trades(*closing)
        order = self._execute(order, sig.price, maybe_sent=False, notify=False)
        self.notifier.decision(sig, decision, order)  # the decision first, then its outcome
        if order.status.final or order.broker_order_id is None:
            self.notifier.order_update(order)  # final at once (a rejection) or unknown
        elif not self.executor.fills_on_bars:
            self._follow(order)
        return decision.rule

    def _count(self, outcome: str, decision: str | None = None) -> None:
        """`outcome`: what handle_raw returns; `decision`, for a risk decision: approved/vetoed."""
        self.stats[outcome] += 1
        _signals_handled(decision or outcome, outcome if decision else "").inc()

    def _decide(self, sig: TradingSignal, d: Decision) -> Order | None:
        """Record the signal, the decision and the order (if any) together, once."""
        now = self.wall()
        order = None
        with self.store.transaction():
            ids = {"signal_id": sig.signal_id, "symbol": sig.symbol}
            self.audit.record("signal", sig, **ids)
            self.audit.record("decision", d.to_dict(), rule=d.rule, **ids)
            if d.approved:
                assert d.side is not None and d.clock is not None
                sane = (d.opening and sig.stop_loss is not None and sig.take_profit is not None
                        and _bracket_sane(d.side.value, sig.price, sig.stop_loss,
                                          sig.take_profit))
                qty = d.qty
                bracket = sane and self.s.bracket_orders
                if bracket and not self.executor.fractional_brackets:
                    qty = float(math.floor(qty))
                    bracket = qty >= 1
                    qty = qty if bracket else d.qty
                order = build(
                    Order, client_order_id=client_order_id(sig.signal_id),
                    signal_id=sig.signal_id, symbol=sig.symbol, side=d.side, qty=qty,
                    order_type="bracket" if bracket else "market", status=OrderStatus.new,
                    broker=self.executor.name,
                    stop_loss=sig.stop_loss if sane else None,
                    take_profit=sig.take_profit if sane else None,
                    horizon_bars=sig.horizon_bars if d.opening else None,
                    exit_reason=None if d.opening else SIGNAL, bar_time=sig.bar_time,
                    submitted_at=now, updated_at=now, detail=d.reason)
                self.store.insert_order(order, sig.price, d.clock, now)
                self._working.setdefault(order.symbol, set()).add(order.client_order_id)
                self.audit.record("order_request", order, client_order_id=order.client_order_id,
                                  **ids)
            self.store.mark_processed(sig.signal_id, now, d.approved, d.rule,
                                      order.client_order_id if order else None)
        return order

    # --- orders -----------------------------------------------------------------------------
    def _request(self, order: Order, price: float) -> OrderRequest:
        bracket = order.order_type == "bracket"
        return OrderRequest(order.client_order_id, order.signal_id, order.symbol, order.side,
                            order.qty, price, order.order_type,
                            order.stop_loss if bracket else None,
                            order.take_profit if bracket else None, order.bar_time)

    def _execute(self, order: Order, price: float, maybe_sent: bool, notify: bool = True) -> Order:
        ids = self._ids(order)
        try:
            # The kill switch is asked again before every attempt to send (the risk manager's
            # look was before the decision; a retry can come a minute later).
            bo = self.executor.submit(self._request(order, price), maybe_sent=maybe_sent,
                                      halted=self._halted)
        except OrderHalted as err:
            return self._failed(order, OrderStatus.failed, f"not sent: {err}", err, notify)
        except BrokerRejected as err:
            return self._failed(order, OrderStatus.rejected, f"rejected by the broker: {err}",
                                err, notify)
        except BrokerUnavailable as err:
            if err.may_exist:
                # Not known whether it went through: never resend blindly; reconcile later by
                # client_order_id (see refresh_orders).
                detail = f"outcome unknown ({err}); will reconcile by client_order_id"
                updated = order.model_copy(update={"detail": detail, "updated_at": self.wall()})
                with self.store.transaction():
                    self.store.update_order(updated, PENDING)
                    self.audit.record("broker_error", {"error": str(err), "may_exist": True,
                                                       "status": err.status}, **ids)
                log.error("order %s: %s", order.client_order_id, detail)
                if notify and "outcome unknown" not in order.detail:  # say it once
                    self.notifier.order_update(updated)
                return updated
            return self._failed(order, OrderStatus.failed, f"broker unavailable: {err}", err,
                                notify)
        return self._apply(order, bo, "broker_response", notify)

    def _failed(self, order: Order, status: OrderStatus, detail: str, err: BrokerError,
                notify: bool = True) -> Order:
        updated = order.model_copy(update={"status": status, "detail": detail,
                                           "updated_at": self.wall()})
        self._publish(updated)  # before the store: a crash in between republishes, never loses
        self._working.get(order.symbol, set()).discard(order.client_order_id)
        for trade in self.trades.values():
            if trade.exit_order == order.client_order_id:
                trade.exit_order = None  # not sent: the next bar tries to close it again
                self._save_trades(trade)
        BROKER_ERRORS.labels(order.broker).inc()
        with self.store.transaction():
            self.store.update_order(updated, FINAL)
            self.audit.record("broker_error", {"error": str(err), "status": err.status,
                                               "order_status": status.value}, **self._ids(order))
        log.error("order %s %s: %s", order.client_order_id, status.value, detail)
        if notify:
            self.notifier.order_update(updated)
        return updated

    @staticmethod
    def _ids(order: Order) -> dict[str, Any]:
        return {"signal_id": order.signal_id, "symbol": order.symbol,
                "client_order_id": order.client_order_id}

    def _apply(self, order: Order, bo: BrokerOrder, kind: str, notify: bool = True) -> Order:
        """Take the broker's view of the order: store, audit, publish when it changed."""
        updated = order.model_copy(update={
            "status": bo.status, "broker_order_id": bo.broker_order_id,
            "filled_qty": bo.filled_qty,
            "filled_avg_price": bo.filled_avg_price or order.filled_avg_price,
            "filled_at": bo.filled_at or order.filled_at,
            "fill_bar_time": bo.fill_bar_time or order.fill_bar_time,
            "detail": bo.detail or order.detail, "updated_at": self.wall()})
        changed = (updated.status, updated.filled_qty, updated.broker_order_id) != \
            (order.status, order.filled_qty, order.broker_order_id)
        phase = FINAL if updated.status.final else OPEN
        if changed:
            # Published before the store is updated: after a crash in between, the next poll sees
            # the change again and republishes it (at-least-once), rather than never.
            self._publish(updated)
        with self.store.transaction():
            self.store.update_order(updated, phase)
            if changed or kind == "broker_response":
                self.audit.record(kind, {"status": bo.status.value, "detail": bo.detail,
                                         "broker": bo.raw}, **self._ids(order))
            if bo.filled_qty > order.filled_qty:
                self.audit.record("fill", {"filled_qty": bo.filled_qty,
                                           "new_qty": bo.filled_qty - order.filled_qty,
                                           "filled_avg_price": bo.filled_avg_price,
                                           "status": bo.status.value}, **self._ids(order))
        if changed:
            log.log(logging.DEBUG if self.risk.quiet else logging.INFO,
                    "order %s %s %s %g: %s (filled %g @ %s)",
                    order.client_order_id, order.side.value, order.symbol, order.qty,
                    updated.status.value, updated.filled_qty, updated.filled_avg_price)
            if updated.status.final and notify:
                self.notifier.order_update(updated)
        if updated.status.final:
            self._working.get(order.symbol, set()).discard(order.client_order_id)
            self._track(updated, bo)
        return updated

    def _follow(self, order: Order) -> Order:
        """Poll an order until final, for at most `order_wait_seconds` (then refresh_orders)."""
        deadline = self.monotonic() + self.s.order_wait_seconds
        while (order.broker_order_id and not order.status.final
               and self.monotonic() < deadline):
            self.sleep(self.s.order_poll_seconds)
            try:
                order = self._apply(order, self.executor.status(order.broker_order_id),
                                    "order_update")
            except BrokerError as err:
                log.warning("order %s: status unavailable (%s); following it later",
                            order.client_order_id, err)
                break
        return order

    # --- positions to their exit ------------------------------------------------------------
    def handle_bar_raw(self, raw: bytes | str, source_topic: str | None = PRICES) -> str:
        """One record of `stock-prices`: "bar", "clock" or "dead_letter"."""
        if is_clock(raw):
            return "clock"
        try:
            bar = parse(PriceBar, raw)
        except ContractError as err:
            self.dead.send(raw, str(err), source_topic)
            return "dead_letter"
        try:
            self.handle_bar(bar)
        except self.infra_errors:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the service
            log.exception("cannot process a bar")
            self.dead.send(raw, f"consumer error: {type(exc).__name__}: {exc}", source_topic)
            return "dead_letter"
        return "bar"

    def handle_bar(self, bar: MarketBar) -> None:
        """Let the market move: fills at this bar, legs that filled, stops, targets, horizons."""
        if self.clock.ahead_of_wall(bar.event_time) is not None:
            return  # a bar from the future moves nothing, as a signal from the future
        if self.executor.on_bar(bar):  # something filled: which order, which leg?
            for coid in sorted(self._working.get(bar.symbol, ())):
                stored = self.store.order(coid)
                if stored is not None and stored.phase == OPEN and stored.order.broker_order_id:
                    try:
                        self._apply(stored.order,
                                    self.executor.status(stored.order.broker_order_id),
                                    "order_update")
                    except BrokerError as err:
                        log.warning("order %s: status unavailable (%s)", coid, err)
            self._sync_trades(bar.symbol)
        # (A real broker's fills and legs are polled by refresh_orders; a close at the horizon
        # asks about the legs first.)
        recent = self._recent.get(bar.symbol)
        if recent is None:
            recent = self._recent[bar.symbol] = deque(maxlen=RECENT_BARS)
        if not recent or bar.event_time > recent[-1].event_time:
            recent.append(bar)
        if self.trades:
            for trade in [t for t in self.trades.values() if t.symbol == bar.symbol]:
                self._advance(trade, bar)

    def save_bars_seen(self) -> None:
        """Record how far the market has moved for the engine (`tradeflow parity` replays the
        bars up to there): once per batch of bars, not per bar."""
        self.store.put_json(BARS_SEEN_KEY, {sym: to_wire_time(q[-1].event_time)
                                            for sym, q in sorted(self._recent.items()) if q})

    def _advance(self, trade: Trade, bar: MarketBar) -> None:
        """Count `bar` towards the trade's horizon (once), and close the trade when its horizon
        ends there or, without a bracket, when the bar reaches its stop or target."""
        if trade.exit_order is not None or bar.event_time < trade.entry_bar_time:
            return
        if trade.last_bar_time is not None and bar.event_time <= trade.last_bar_time:
            return  # this bar again (a redelivery): counted once
        trade.last_bar_time = bar.event_time
        trade.bars_held += 1
        if self.store.durable:  # a restart goes on counting from here
            self._save_trades(trade)
        hit = None if trade.bracket else trigger(trade.long, trade.stop_loss, trade.take_profit,
                                                 bar.open, bar.high, bar.low)
        if hit is not None:  # the engine's own stop: a market order at the next open
            self._exit(trade, hit.reason, bar)
        elif trade.horizon_bars is not None and trade.bars_held >= trade.horizon_bars:
            self._exit(trade, HORIZON, bar)

    def _save_trades(self, *changed: Trade) -> None:
        """Store `changed` trades, or with none given, which trades are open."""
        if not changed:
            self.store.put_json(TRADES_KEY, sorted(self.trades))
        for trade in changed:
            self.store.put_json(f"trade:{trade.client_order_id}", trade.to_dict())

    def _track(self, order: Order, bo: BrokerOrder) -> None:
        """A final order: an entry that filled opens a trade; an exit that filled closes its."""
        if order.status is not OrderStatus.filled or order.filled_avg_price is None:
            return
        if order.exit_reason is None:
            if order.client_order_id in self.trades:
                return
            at = order.filled_at or order.updated_at
            trade = Trade(order.signal_id, order.client_order_id, order.symbol,
                          "long" if order.side is OrderSide.buy else "short", order.filled_qty,
                          order.filled_avg_price, at, order.fill_bar_time or at,
                          order.stop_loss, order.take_profit, order.horizon_bars,
                          broker_order_id=order.broker_order_id,
                          bracket=order.order_type == "bracket",
                          entry_fee=float(bo.raw.get("fee", 0.0) or 0.0))
            self.trades[order.client_order_id] = trade
            with self.store.transaction():
                self._save_trades(trade)
                self._save_trades()
            self._check_legs(trade, bo)
            # Filled in a bar seen before its order came (the bars ran ahead of the signal):
            # the bars since count now, as they would have in bar order.
            for bar in list(self._recent.get(trade.symbol, ())):
                if trade.client_order_id in self.trades and bar.event_time >= trade.entry_bar_time:
                    self._advance(trade, bar)
            return
        for trade in [t for t in self.trades.values() if t.exit_order == order.client_order_id]:
            self._close(trade, order.exit_reason, order.filled_avg_price,
                        order.filled_at or order.updated_at, order.fill_bar_time,
                        float(bo.raw.get("fee", 0.0) or 0.0))

    def _sync_trades(self, symbol: str | None = None) -> None:
        """Ask the broker about the bracket legs of open trades (of `symbol`, or all)."""
        for trade in list(self.trades.values()):
            if trade.bracket and trade.broker_order_id and (symbol is None
                                                            or trade.symbol == symbol):
                try:
                    self._check_legs(trade, self.executor.status(trade.broker_order_id))
                except BrokerError as err:
                    log.warning("trade %s: legs unavailable (%s)", trade.client_order_id, err)

    def _check_legs(self, trade: Trade, bo: BrokerOrder) -> None:
        for leg in bo.legs:
            if leg.status is OrderStatus.filled and leg.filled_avg_price is not None \
                    and trade.client_order_id in self.trades:
                self._leg_filled(trade, leg)

    def _leg_filled(self, trade: Trade, leg: ExitLeg) -> None:
        """The broker closed the position at its stop or its target: publish it as an order."""
        now = self.wall()
        at = leg.filled_at or now
        exit_order = build(
            Order, client_order_id=f"{trade.client_order_id}-{leg.reason}",
            signal_id=trade.signal_id, symbol=trade.symbol,
            side=OrderSide.sell if trade.long else OrderSide.buy, qty=trade.qty,
            order_type="stop" if leg.reason == "stop_loss" else "limit",
            status=OrderStatus.filled, broker=self.executor.name,
            broker_order_id=leg.broker_order_id, filled_qty=leg.filled_qty or trade.qty,
            filled_avg_price=leg.filled_avg_price, exit_reason=leg.reason,
            stop_loss=trade.stop_loss, take_profit=trade.take_profit, filled_at=at,
            fill_bar_time=leg.fill_bar_time, submitted_at=trade.entry_time, updated_at=now,
            detail=f"bracket {leg.reason.replace('_', '-')} leg filled")
        self._publish(exit_order)
        if trade.exit_order is not None:
            # A close was on its way (Alpaca: the leg filled while it was cancelled): it must
            # not trade now, or it would open the other way.
            log.warning("trade %s closed by its %s while a close was sent",
                        trade.client_order_id, leg.reason)
        self._close(trade, leg.reason, leg.filled_avg_price, at, leg.fill_bar_time,
                    leg.fee)

    def _close(self, trade: Trade, reason: str, price: float, at: datetime,
               bar_time: datetime | None, fee: float) -> None:
        trade.exit_reason, trade.exit_price, trade.exit_time = reason, price, at
        trade.exit_bar_time, trade.exit_fee = bar_time or at, fee
        del self.trades[trade.client_order_id]
        with self.store.transaction():
            self._save_trades()
            self.store.delete(f"trade:{trade.client_order_id}")
            self.audit.record("trade_closed", trade.to_dict(), signal_id=trade.signal_id,
                              symbol=trade.symbol, client_order_id=trade.client_order_id,
                              rule=reason)
        log.info("%s %s closed (%s) at %g: P&L %.2f", trade.side, trade.symbol, reason, price,
                 trade.pnl or 0.0)

    def _cancel_legs(self, symbol: str) -> bool:
        """Cancel the legs of the symbol's trades; False if one of them closed meanwhile."""
        trades = [t for t in self.trades.values() if t.symbol == symbol]
        for trade in trades:
            self._cancel_legs_of(trade)
        return all(t.client_order_id in self.trades for t in trades)

    def _exit(self, trade: Trade, reason: str, bar: MarketBar) -> None:
        """Close `trade` with a market order decided at the end of `bar`."""
        try:
            self._cancel_legs_of(trade)
        except BrokerError as err:
            log.warning("trade %s: cannot cancel its legs (%s); will try again",
                        trade.client_order_id, err)
            return
        if trade.client_order_id not in self.trades:
            return  # a leg filled meanwhile: already closed
        now = self.wall()
        order = build(
            Order, client_order_id=client_order_id(f"{trade.client_order_id}:{reason}"),
            signal_id=trade.signal_id, symbol=trade.symbol,
            side=OrderSide.sell if trade.long else OrderSide.buy, qty=trade.qty,
            status=OrderStatus.new, broker=self.executor.name, exit_reason=reason,
            bar_time=bar.event_time, submitted_at=now, updated_at=now,
            detail=f"exit: {reason.replace('_', ' ')} after {trade.bars_held} bars")
        if self.store.order(order.client_order_id) is not None:
            return  # decided before a restart: refresh_orders finishes it
        trade.exit_order = order.client_order_id
        with self.store.transaction():
            self.store.insert_order(order, bar.close, self.clock.now(), now)
            self.audit.record("order_request", order, signal_id=trade.signal_id, symbol=trade.symbol,
                              client_order_id=order.client_order_id, rule=reason)
            self._save_trades(trade)
        self._working.setdefault(trade.symbol, set()).add(order.client_order_id)
        self._publish(order)
        self._execute(order, bar.close, maybe_sent=False)

    def _cancel_legs_of(self, trade: Trade) -> None:
        if trade.bracket and trade.broker_order_id:
            self.executor.cancel_legs(trade.broker_order_id)
            self._check_legs(trade, self.executor.status(trade.broker_order_id))

    def _publish(self, order: Order) -> None:
        # Masked here, where the record leaves: its detail may quote a broker's error text.
        self.backend.publish(ORDERS, [Record(order.key, mask_bytes(order.to_json()))])
        ORDER_RECORDS.labels(order.status.value).inc()
        RECORDS_PUBLISHED.labels(ORDERS).inc()

    def refresh_orders(self, force: bool = False) -> None:
        """Advance orders that are not final: poll open ones, reconcile ones of unknown fate."""
        now = self.monotonic()
        if not force and now < self._next_refresh:
            return
        self._next_refresh = now + self.s.order_poll_seconds
        self._sync_trades()
        for stored in self.store.unfinished_orders():
            if stored.phase == PENDING:
                # An order of unknown fate: retried with a growing pause, not at every poll.
                due, pause = self._pending_retry.get(stored.order.client_order_id, (0.0, 1.0))
                if now < due:
                    continue
                self._pending_retry[stored.order.client_order_id] = (now + pause,
                                                                     min(pause * 2, 60.0))
            self._refresh(stored)

    def _refresh(self, stored: StoredOrder) -> None:
        order = stored.order
        age = (self.wall() - stored.decided_wall).total_seconds()
        try:
            if stored.phase == OPEN and order.broker_order_id:
                self._apply(order, self.executor.status(order.broker_order_id), "order_update")
                return
            # Pending: decided, but the broker never confirmed it. Sending it (after the
            # executor's lookup by client_order_id) is allowed only while the signal is fresh
            # and the kill switch is off; otherwise it is only looked up, never placed late.
            if age <= self.s.risk_stale_seconds and not self.kill.engaged:
                self._execute(order, stored.price, maybe_sent=True)
                return
            found = self.executor.lookup(order.client_order_id)
        except BrokerError as err:
            log.warning("order %s: broker unavailable (%s); will try again",
                        order.client_order_id, err)
            return
        if found is not None:
            self._apply(order, found, "broker_response")
        else:
            why = ("the kill switch is engaged" if self.kill.engaged
                   else f"the signal is {age:.0f}s old now: not placed late")
            self._failed(order, OrderStatus.failed, f"never reached the broker, and {why}",
                         BrokerError("no order with this client_order_id at the broker", 404))

    def recover(self) -> int:
        """At start: finish orders a previous run left unfinished. Returns how many."""
        unfinished = self.store.unfinished_orders()
        for stored in unfinished:
            age = (self.wall() - stored.decided_wall).total_seconds()
            self.audit.record("recovery", {"phase": stored.phase, "age_seconds": round(age, 1)},
                              **self._ids(stored.order))
            log.info("recovering order %s (%s, decided %.0fs ago)", stored.order.client_order_id,
                     stored.phase, age)
            self._refresh(stored)
        return len(unfinished)

    # --- kill switch ------------------------------------------------------------------------
    def _halted(self) -> str | None:
        state = self.kill.state()
        return state.reason if state.engaged else None

    def check_kill_switch(self) -> None:
        state = self.kill.state()
        if state.engaged == self._kill_seen or (self._kill_seen is None and not state.engaged):
            self._kill_seen = state.engaged
            return
        self._kill_seen = state.engaged
        log.warning("kill switch %s%s", "ENGAGED" if state.engaged else "released",
                    f": {state.reason}" if state.engaged else "")
        self.audit.record("kill_switch", state.to_dict())
        self.notifier.kill_switch(state)

    def _notify_failed(self, what: str, error: str) -> None:
        self.audit.record("notify_error", {"what": what, "error": error})

    def close(self) -> None:
        self.executor.close()
        self.store.close()




def _bracket_sane(side: str, price: float, stop: float, target: float) -> bool:
    return stop < price < target if side == "buy" else target < price < stop


# --- assembly -------------------------------------------------------------------------------
def broker_of(shared: Settings, s: ConsumerSettings) -> str:
    if s.broker is BrokerChoice.auto:
        return "alpaca" if shared.alpaca_enabled else "paper"
    if s.broker is BrokerChoice.alpaca and not shared.alpaca_enabled:
        raise ConfigError("TRADEFLOW_BROKER=alpaca needs APCA_API_KEY_ID and APCA_API_SECRET_KEY")
    return s.broker.value


def clock_mode(broker: str, s: ConsumerSettings) -> str:
    if s.risk_clock is ClockChoice.auto:
        return "wall" if broker == "alpaca" else "signal"
    if broker == "alpaca" and s.risk_clock is ClockChoice.signal:
        raise ConfigError("TRADEFLOW_RISK_CLOCK=signal is for the built-in paper broker only: "
                          "on Alpaca, staleness and market hours are judged by the wall clock")
    return s.risk_clock.value


def make_executor(broker: str, shared: Settings, s: ConsumerSettings,
                  sleep: Callable[[float], None] = time.sleep) -> Executor:
    if broker == "alpaca":
        from tradeflow.trading.executors.alpaca import AlpacaExecutor

        assert shared.apca_api_key_id and shared.apca_api_secret_key
        return AlpacaExecutor(shared.apca_api_key_id.get_secret_value(),
                              shared.apca_api_secret_key.get_secret_value(),
                              shared.apca_api_base_url, timeout=s.broker_timeout_seconds,
                              attempts=s.broker_retries, backoff=s.broker_backoff_seconds,
                              sleep=sleep)
    from tradeflow.trading.executors.paper import PaperBroker, PaperStateError

    try:
        return PaperBroker(shared.path("paper-broker.json"), s.paper_cash, s.paper_slippage_bps,
                           s.paper_fee_bps, s.paper_fee_per_order, writer=True)
    except PaperStateError as err:
        raise ConfigError(str(err)) from None


def make_notifier(s: ConsumerSettings) -> Notifier:
    if s.slack_enabled:
        from tradeflow.trading.notifiers.slack import SlackNotifier

        assert s.slack_bot_token and s.slack_channel
        return SlackNotifier(s.slack_bot_token.get_secret_value(), s.slack_channel,
                             s.slack_api_url, s.slack_timeout_seconds)
    from tradeflow.trading.notifiers.console import ConsoleNotifier

    return ConsoleNotifier()
