"""The risk manager: every order needs its approval, and any one rule can veto it.

Rules run in a fixed order, cheapest and most absolute first, and the first that bites decides
(its name is the decision's `rule`, logged and audited):

  kill_switch          the kill switch file exists
  staleness            bar_time older than TRADEFLOW_RISK_STALE_SECONDS, or in the future (of
                       the wall clock too, whatever the risk clock: see clock.py)
  min_confidence       confidence below TRADEFLOW_RISK_MIN_CONFIDENCE
  daily_loss_limit     trading already stopped today, or equity fell the limit below day start
  market_hours         outside the regular session
  cooldown             an order on this symbol less than TRADEFLOW_RISK_COOLDOWN_SECONDS ago
  broker_unavailable   account or clock could not be read: no order without knowing the risk
  already_long / already_short / no_short_selling     one position per symbol, one direction
  max_drawdown         an opening order while equity is TRADEFLOW_RISK_MAX_DRAWDOWN below its peak
  sizing               the size rounds to zero shares
  max_order_value, max_position_value, max_gross_exposure, max_open_positions

A signal against an existing position closes it (SELL when long, BUY when short, the whole
quantity); closing trades reduce risk, so the drawdown limit and the four exposure limits apply
to opening trades only: past the drawdown limit the account can only reduce.
Orders in flight (decided, not final at the broker) count as positions.

Equity is the broker's (cash plus open positions marked to market). The peak for the drawdown
limit is the highest equity seen by a decision that read the account while the limit was on,
kept in the store (key PEAK_KEY) like the daily loss limit's day start, so a restart keeps it.
It never resets by itself: once flat past the limit, equity cannot recover, and openings stay
vetoed until the limit is raised or switched off, or the stored peak is removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradeflow.contracts import Action, OrderSide, OrderStatus, TradingSignal, to_wire_time

from . import calendar
from .clock import RiskClock
from .executors.base import Account, BrokerError, Executor
from .killswitch import KillSwitch
from tradeflow.config import ConsumerSettings
from .sizing import position_size
from .store import Store

log = logging.getLogger(__name__)
APPROVED = "approved"
HALT_KEY = "daily_loss_halt"
PEAK_KEY = "peak_equity"


@dataclass(frozen=True)
class Decision:
    approved: bool
    rule: str  # the rule that vetoed, or "approved"
    reason: str
    side: OrderSide | None = None
    qty: float = 0.0
    opening: bool = False
    clock: datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"approved": self.approved, "rule": self.rule, "reason": self.reason,
                "side": self.side.value if self.side else None, "qty": self.qty,
                "opening": self.opening,
                "clock": to_wire_time(self.clock) if self.clock else None, **self.context}


class Veto(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule


@dataclass(eq=False)
class RiskManager:
    s: ConsumerSettings
    executor: Executor
    store: Store
    kill: KillSwitch
    clock: RiskClock
    # Each decision is said once: quiet when the notifier prints it on the terminal (the
    # console), in the log otherwise (Slack posts elsewhere).
    quiet: bool = field(default=False, init=False)

    def evaluate(self, sig: TradingSignal) -> Decision:
        now = self.clock.now()
        ctx: dict[str, Any] = {"clock_mode": self.clock.mode}
        try:
            side, qty, opening = self._check(sig, now, ctx)
        except Veto as v:
            log.log(logging.DEBUG if self.quiet else logging.WARNING, "veto %s %s %s: [%s] %s",
                    sig.signal_id, sig.action.value, sig.symbol, v.rule, v)
            return Decision(False, v.rule, str(v), clock=now, context=ctx)
        reason = f"{side.value} {qty:g} {sig.symbol} ({'open' if opening else 'close'})"
        log.log(logging.DEBUG if self.quiet else logging.INFO, "approve %s: %s", sig.signal_id,
                reason)
        return Decision(True, APPROVED, reason, side, qty, opening, now, ctx)

    # --- the rules, in order ----------------------------------------------------------------
    def _check(self, sig: TradingSignal, now: datetime,
               ctx: dict[str, Any]) -> tuple[OrderSide, float, bool]:
        s = self.s
        state = self.kill.state()
        if state.engaged:
            raise Veto("kill_switch", f"kill switch engaged: {state.reason}")

        # Against the wall clock even on the signal clock, which never follows such a record
        # (clock.py): otherwise it would be judged by a clock it cannot move, and traded.
        ahead = self.clock.ahead_of_wall(sig.bar_time)
        if ahead is not None:
            raise Veto("staleness", f"bar_time {to_wire_time(sig.bar_time)} is {ahead:.0f}s in the "
                                    f"future of the wall clock (limit "
                                    f"{s.risk_max_clock_skew_seconds:g}s)")

        age = (now - sig.bar_time).total_seconds()
        ctx["signal_age_seconds"] = round(age, 3)
        if age > s.risk_stale_seconds:
            raise Veto("staleness", f"bar_time {to_wire_time(sig.bar_time)} is {age:.0f}s old "
                                    f"(limit {s.risk_stale_seconds:g}s, {self.clock.mode} clock)")
        if -age > s.risk_max_clock_skew_seconds:
            raise Veto("staleness", f"bar_time {to_wire_time(sig.bar_time)} is {-age:.0f}s in the "
                                    f"future of the {self.clock.mode} clock")

        if sig.confidence < s.risk_min_confidence:
            raise Veto("min_confidence", f"confidence {sig.confidence:g} < "
                                         f"{s.risk_min_confidence:g}")

        day = calendar.trading_day(now).isoformat()
        if s.risk_daily_loss_limit and self.store.get(HALT_KEY) == day:
            raise Veto("daily_loss_limit", f"trading stopped for {day}: daily loss limit reached")

        try:
            if s.risk_market_hours and not self.executor.market_open(now):
                raise Veto("market_hours", f"market closed at {to_wire_time(now)} "
                                           f"({self.executor.name} clock)")
        except BrokerError as err:
            raise Veto("broker_unavailable", f"cannot read the market clock: {err}") from None

        if s.risk_cooldown_seconds:
            last = self.store.last_order_time(sig.symbol)
            if last is not None and (now - last).total_seconds() < s.risk_cooldown_seconds:
                raise Veto("cooldown", f"last {sig.symbol} order {(now - last).total_seconds():.0f}s "
                                       f"ago (cooldown {s.risk_cooldown_seconds:g}s)")

        try:
            acct = self.executor.account()
        except BrokerError as err:
            raise Veto("broker_unavailable", f"cannot read the account: {err}") from None
        ctx["equity"] = round(acct.equity, 2)
        self._daily_loss(acct, day, ctx)
        drawdown = self._drawdown(acct, ctx)

        held = self._held(acct)
        pos = held.get(sig.symbol, 0.0)
        ctx["position_qty"] = pos
        if sig.action is Action.BUY:
            if pos > 0:
                raise Veto("already_long", f"already long {pos:g} {sig.symbol}")
            if pos < 0:
                return OrderSide.buy, -pos, False
            side = OrderSide.buy
        else:
            if pos < 0:
                raise Veto("already_short", f"already short {-pos:g} {sig.symbol}")
            if pos > 0:
                return OrderSide.sell, pos, False
            if not s.allow_short:
                raise Veto("no_short_selling", f"SELL while flat on {sig.symbol} and shorting "
                                               "is disabled")
            side = OrderSide.sell

        if drawdown is not None:
            raise Veto("max_drawdown", drawdown)
        qty, how = position_size(sig, acct.equity, s)
        ctx["sizing"] = how
        if qty <= 0:
            raise Veto("sizing", f"size rounds to zero shares at {sig.price:g} ({how})")
        self._exposure(sig, qty, acct, held, ctx)
        return side, qty, True

    def _daily_loss(self, acct: Account, day: str, ctx: dict[str, Any]) -> None:
        limit = self.s.risk_daily_loss_limit
        start = acct.day_start_equity
        if start is None:  # the simulator: remember equity at the first look of the day
            key = f"day_start_equity:{day}"
            raw = self.store.get(key)
            if raw is None:
                self.store.put(key, repr(acct.equity))
                start = acct.equity
            else:
                start = float(raw)
        ctx["day_pnl"] = round(acct.equity - start, 2)
        if limit and acct.equity - start <= -limit:
            self.store.put(HALT_KEY, day)
            raise Veto("daily_loss_limit", f"equity {acct.equity:.2f} is {start - acct.equity:.2f} "
                                           f"below the day's start {start:.2f} (limit {limit:g}); "
                                           f"no more orders on {day}")

    def _drawdown(self, acct: Account, ctx: dict[str, Any]) -> str | None:
        """Track the peak equity; the veto reason for opening orders when past the limit."""
        limit = self.s.risk_max_drawdown
        if not limit:
            return None
        raw = self.store.get(PEAK_KEY)
        peak = float(raw) if raw is not None else None
        if peak is None or acct.equity > peak:
            self.store.put(PEAK_KEY, repr(acct.equity))
            peak = acct.equity
        drawdown = 1 - acct.equity / peak if peak > 0 else 0.0
        ctx["peak_equity"] = round(peak, 2)
        ctx["drawdown"] = round(drawdown, 6)
        if drawdown < limit:
            return None
        return (f"equity {acct.equity:.2f} is {drawdown:.2%} below its peak {peak:.2f} "
                f"(limit {limit:.2%}): only orders that reduce a position")

    def _held(self, acct: Account) -> dict[str, float]:
        """Positions plus what orders in flight will add: signed quantities per symbol."""
        held = {sym: p.qty for sym, p in acct.positions.items() if p.qty}
        for stored in self.store.unfinished_orders():
            o = stored.order
            if o.status in (OrderStatus.failed, OrderStatus.rejected):
                continue
            rest = o.qty - o.filled_qty  # filled parts already show in the positions
            if rest > 0:
                held[o.symbol] = held.get(o.symbol, 0.0) + (rest if o.side is OrderSide.buy
                                                            else -rest)
        return {k: v for k, v in held.items() if abs(v) > 1e-9}

    def _exposure(self, sig: TradingSignal, qty: float, acct: Account, held: dict[str, float],
                  ctx: dict[str, Any]) -> None:
        s = self.s
        value = qty * sig.price
        ctx["order_value"] = round(value, 2)
        if s.risk_max_order_value and value > s.risk_max_order_value:
            raise Veto("max_order_value", f"order value {value:.2f} > {s.risk_max_order_value:g}")

        def worth(sym: str, q: float) -> float:
            p = acct.positions.get(sym)
            price = sig.price if sym == sig.symbol or not p or not p.qty else p.market_value / p.qty
            return abs(q) * price

        position_value = worth(sig.symbol, held.get(sig.symbol, 0.0) + qty)
        if s.risk_max_position_value and position_value > s.risk_max_position_value:
            raise Veto("max_position_value", f"{sig.symbol} position would be worth "
                                             f"{position_value:.2f} > {s.risk_max_position_value:g}")
        gross = sum(worth(sym, q) for sym, q in held.items() if sym != sig.symbol) + position_value
        ctx["gross_exposure"] = round(gross, 2)
        if s.risk_max_gross_exposure and gross > s.risk_max_gross_exposure:
            raise Veto("max_gross_exposure", f"gross exposure would be {gross:.2f} > "
                                             f"{s.risk_max_gross_exposure:g}")
        n = len(set(held) | {sig.symbol})
        if s.risk_max_open_positions and n > s.risk_max_open_positions:
            raise Veto("max_open_positions", f"{n} open positions would exceed "
                                             f"{s.risk_max_open_positions}")
