"""What changed since the last delta: the records browsers have not been sent yet.

Bounded like the state: per kind the newest records up to the state's cap (a replay burst
between two ticks keeps the newest), a record sent twice in one tick only once (the newer).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from .records import Event, Folder
from .snapshot import Limits
from .wire import Wire


class Pending(Folder[None]):
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.bars: dict[str, dict[int, Event]] = {}
        self.keyed: dict[str, OrderedDict[Hashable, Event]] = {}
        self.since: float | None = None  # wall time the oldest record in it was read
        self.sentiment = False  # the state's sentiment may have changed
        self.provenance = False  # the mix of bar sources may have changed

    def on_bar(self, ev: Event) -> None:
        self.provenance = True
        pend = self.bars.setdefault(ev.record.symbol, {})
        pend[int(ev.t)] = ev
        if len(pend) > 2 * self.limits.bars_per_symbol:  # a replay burst: keep the newest
            for t in sorted(pend)[: len(pend) - self.limits.bars_per_symbol]:
                del pend[t]

    def on_signal(self, ev: Event) -> None:
        self.sentiment = True
        self._put(ev, self.limits.max_signals)

    def on_news(self, ev: Event) -> None:
        self.sentiment = True
        self._put(ev, self.limits.max_news)

    def on_order(self, ev: Event) -> None:
        self._put(ev, self.limits.max_orders)

    def _put(self, ev: Event, cap: int) -> None:
        d = self.keyed.setdefault(ev.kind.name, OrderedDict())
        d[ev.key] = ev
        d.move_to_end(ev.key)
        if len(d) > cap:
            d.popitem(last=False)

    def records(self) -> dict[str, list[Wire]]:
        """The page forms to send, by collection (`bars`, `signals`, ...), oldest bars first."""
        out: dict[str, list[Wire]] = {}
        if self.bars:
            lim = self.limits.bars_per_symbol
            out["bars"] = [pend[t].wire for pend in self.bars.values() for t in sorted(pend)[-lim:]]
        out.update({name: [ev.wire for ev in d.values()] for name, d in self.keyed.items() if d})
        return out
