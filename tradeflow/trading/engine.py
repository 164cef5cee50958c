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
How records arrive (a topic subscription in consumer/, a Kinesis event in lambdas/) and when
positions are committed is the caller's business; the store is the SQLite one or DynamoDB.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tradeflow.config import ORDERS, SIGNALS, BrokerChoice, ConsumerSettings, Settings
from tradeflow.config import RiskClock as ClockChoice
from tradeflow.contracts import (ContractError, Order, OrderStatus, TradingSignal, build, parse,
                                 to_wire_time)
from tradeflow.deadletter import DeadLetters
from tradeflow.logs import install_masking, mask_bytes, register_secrets
from tradeflow.topics import Backend, BackendError, Record
from tradeflow.trading.audit import Audit
from tradeflow.trading.clock import RiskClock, wall_now
from tradeflow.trading.executors.base import (BrokerError, BrokerOrder, BrokerRejected,
                                              BrokerUnavailable, Executor, OrderHalted,
                                              OrderRequest, client_order_id)
from tradeflow.trading.killswitch import KillSwitch
from tradeflow.trading.metrics import SIGNAL_AGE
from tradeflow.trading.notifiers.base import Guarded, Notifier
from tradeflow.trading.risk import Decision, RiskManager
from tradeflow.trading.store import FINAL, OPEN, PENDING, Store, StoredOrder

log = logging.getLogger("consumer")
CLOCK_KEY = "signal_clock"


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
                 wall: Callable[[], datetime] = wall_now, audit: Audit | None = None,
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
        self.audit = audit if audit is not None else Audit(store, secrets)
        self.risk = RiskManager(s, executor, store, kill, clock)
        self.dead = DeadLetters(backend, component)
        self.notifier = Guarded(notifier, on_error=self._notify_failed)
        self.stats: Counter[str] = Counter()
        self._kill_seen: bool | None = None
        self._next_refresh = 0.0
        self._pending_retry: dict[str, tuple[float, float]] = {}

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
                self.stats["dead_letter"] += 1
                return "dead_letter"
            return self.handle(sig)
        except self.infra_errors:
            raise  # infrastructure: stop without committing; a restart resumes safely
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the service
            log.exception("cannot process a signal")
            self.dead.send(raw, f"consumer error: {type(exc).__name__}: {exc}", source_topic)
            self.stats["error"] += 1
            return "error"

    def handle(self, sig: TradingSignal) -> str:
        if self.store.is_processed(sig.signal_id):
            log.info("duplicate signal %s: already decided, ignored", sig.signal_id)
            self.audit.record("duplicate", {"signal_id": sig.signal_id},
                              signal_id=sig.signal_id, symbol=sig.symbol)
            self.stats["duplicate"] += 1
            return "duplicate"
        # A bar_time too far ahead of the wall clock moves nothing (neither the signal clock nor
        # the paper broker's marks): the risk manager vetoes it, and later signals never know.
        if self.clock.ahead_of_wall(sig.bar_time) is None:
            if self.clock.observe(sig.bar_time) and self.clock.mode == "signal":
                self.store.put(CLOCK_KEY, to_wire_time(sig.bar_time))
            self.executor.observe_price(sig.symbol, sig.price, sig.bar_time)
        decision = self.risk.evaluate(sig)
        try:
            order = self._decide(sig, decision)
        except AlreadyDecided:
            # Another worker recorded this signal between our check and our commit.
            log.info("duplicate signal %s: decided concurrently, ignored", sig.signal_id)
            self.stats["duplicate"] += 1
            return "duplicate"
        SIGNAL_AGE.observe((wall_now() - sig.bar_time).total_seconds())
        self.stats[decision.rule] += 1
        if order is None:
            self.notifier.decision(sig, decision, None)
            return decision.rule
        self._publish(order)
        order = self._execute(order, sig.price, maybe_sent=False, notify=False)
        self.notifier.decision(sig, decision, order)  # the decision first, then its outcome
        if order.status.final or order.broker_order_id is None:
            self.notifier.order_update(order)  # final at once (paper fill, rejection) or unknown
        else:
            self._follow(order)
        return decision.rule

    def _decide(self, sig: TradingSignal, d: Decision) -> Order | None:
        """Record the signal, the decision and the order (if any) together, once."""
        now = self.wall()
        order = None
        with self.store.transaction():
            ids = {"signal_id": sig.signal_id, "symbol": sig.symbol}
            self.audit.record("signal", sig.model_dump(mode="json"), **ids)
            self.audit.record("decision", d.to_dict(), rule=d.rule, **ids)
            if d.approved:
                assert d.side is not None and d.clock is not None
                bracket = (self.s.bracket_orders and d.opening and sig.stop_loss is not None
                           and sig.take_profit is not None
                           and _bracket_sane(d.side.value, sig.price, sig.stop_loss,
                                             sig.take_profit))
                order = build(
                    Order, client_order_id=client_order_id(sig.signal_id),
                    signal_id=sig.signal_id, symbol=sig.symbol, side=d.side, qty=d.qty,
                    order_type="bracket" if bracket else "market", status=OrderStatus.new,
                    broker=self.executor.name,
                    stop_loss=sig.stop_loss if bracket else None,
                    take_profit=sig.take_profit if bracket else None,
                    submitted_at=now, updated_at=now, detail=d.reason)
                self.store.insert_order(order, sig.price, d.clock, now)
                self.audit.record("order_request", order.model_dump(mode="json"),
                                  client_order_id=order.client_order_id, **ids)
            self.store.mark_processed(sig.signal_id, now, d.approved, d.rule,
                                      order.client_order_id if order else None)
        return order

    # --- orders -----------------------------------------------------------------------------
    def _request(self, order: Order, price: float) -> OrderRequest:
        return OrderRequest(order.client_order_id, order.signal_id, order.symbol, order.side,
                            order.qty, price, order.order_type, order.stop_loss, order.take_profit)

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
            log.info("order %s %s %s %g: %s (filled %g @ %s)", order.client_order_id,
                     order.side.value, order.symbol, order.qty, updated.status.value,
                     updated.filled_qty, updated.filled_avg_price)
            if updated.status.final and notify:
                self.notifier.order_update(updated)
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

    def _publish(self, order: Order) -> None:
        # Masked here, where the record leaves: its detail may quote a broker's error text.
        self.backend.publish(ORDERS, [Record(order.key, mask_bytes(order.to_json()))])

    def refresh_orders(self, force: bool = False) -> None:
        """Advance orders that are not final: poll open ones, reconcile ones of unknown fate."""
        now = self.monotonic()
        if not force and now < self._next_refresh:
            return
        self._next_refresh = now + self.s.order_poll_seconds
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
    from tradeflow.trading.executors.paper import PaperBroker

    return PaperBroker(shared.path("paper-broker.json"), s.paper_cash, s.paper_slippage_bps,
                       s.paper_fee_bps, s.paper_fee_per_order)


def make_notifier(s: ConsumerSettings) -> Notifier:
    if s.slack_enabled:
        from tradeflow.trading.notifiers.slack import SlackNotifier

        assert s.slack_bot_token and s.slack_channel
        return SlackNotifier(s.slack_bot_token.get_secret_value(), s.slack_channel,
                             s.slack_api_url, s.slack_timeout_seconds)
    from tradeflow.trading.notifiers.console import ConsoleNotifier

    return ConsoleNotifier()
