"""What a notifier is told, and the guard that keeps a notifier failure away from trading.

The consumer notifies only after the order decision and submission, through `Guarded`, which
swallows and logs every exception: a message that cannot be sent never blocks, delays beyond
its timeout, or skips an order.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from tradeflow.contracts import Order, TradingSignal
from tradeflow.logs import mask

from ..killswitch import KillState
from ..risk import Decision

log = logging.getLogger(__name__)


class Notifier(ABC):
    name: str

    @abstractmethod
    def decision(self, sig: TradingSignal, decision: Decision, order: Order | None) -> None:
        """A signal and what was decided (the order placed, or the rule that vetoed it)."""

    @abstractmethod
    def order_update(self, order: Order) -> None:
        """An order reached a final state (filled, rejected, failed, ...) or needs attention."""

    @abstractmethod
    def kill_switch(self, state: KillState) -> None:
        """The kill switch was engaged or released."""


class Silent(Notifier):
    """Tells no one (the backtest: thousands of decisions over history)."""

    name = "none"

    def decision(self, sig: TradingSignal, decision: Decision, order: Order | None) -> None:
        pass

    def order_update(self, order: Order) -> None:
        pass

    def kill_switch(self, state: KillState) -> None:
        pass


class Guarded(Notifier):
    """Runs a notifier; failures are logged (and reported to `on_error`), never raised."""

    def __init__(self, inner: Notifier,
                 on_error: Callable[[str, str], None] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.on_error = on_error

    def _safe(self, what: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - by design: nothing may escape
            msg = mask(str(exc))  # before it is cut: no partial secret survives
            text = f"{type(exc).__name__}: {msg.splitlines()[0][:300] if msg else ''}"
            log.warning("%s notification (%s) failed: %s", self.name, what, text)
            if self.on_error:
                try:
                    self.on_error(what, text)
                except Exception:  # noqa: BLE001
                    log.exception("could not record a notification failure")

    def decision(self, sig: TradingSignal, decision: Decision, order: Order | None) -> None:
        self._safe("decision", lambda: self.inner.decision(sig, decision, order))

    def order_update(self, order: Order) -> None:
        self._safe("order", lambda: self.inner.order_update(order))

    def kill_switch(self, state: KillState) -> None:
        self._safe("kill_switch", lambda: self.inner.kill_switch(state))
