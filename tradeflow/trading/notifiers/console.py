"""Notifications on the terminal, when Slack is not configured."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from tradeflow.contracts import Order, OrderStatus, TradingSignal
from tradeflow.logs import mask

from ..killswitch import KillState
from ..risk import Decision
from .base import Notifier


class ConsoleNotifier(Notifier):
    name = "console"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)

    def _print(self, text: str) -> None:
        self.console.print(mask(text))  # a detail or reason may quote a broker's error

    def decision(self, sig: TradingSignal, decision: Decision, order: Order | None) -> None:
        head = (f"{sig.action.value} {sig.symbol} @ {sig.price:g} conf {sig.confidence:.2f} "
                f"({escape(sig.strategy)})")
        if decision.approved and order is not None:
            self._print(f"[green]ORDER[/] {head}: {order.side.value} {order.qty:g} "
                               f"-> {order.status.value} [dim]{order.client_order_id}[/]")
        else:
            self._print(f"[yellow]VETO[/]  {head}: [bold]{decision.rule}[/] "
                               f"{escape(decision.reason)}")

    def order_update(self, order: Order) -> None:
        ok = order.status in (OrderStatus.filled, OrderStatus.partially_filled)
        price = f" @ {order.filled_avg_price:g}" if order.filled_avg_price else ""
        self._print(f"[{'green' if ok else 'red'}]{order.status.value.upper()}[/] "
                           f"{order.side.value} {order.filled_qty:g}/{order.qty:g} {order.symbol}"
                           f"{price} {escape(order.detail)} [dim]{order.client_order_id}[/]")

    def kill_switch(self, state: KillState) -> None:
        if state.engaged:
            self._print(f"[bold red]KILL SWITCH ENGAGED[/]: {escape(state.reason)}")
        else:
            self._print("[bold green]kill switch released[/]: trading resumes")
