"""The consumer loop: trading signals from a topic through the shared `SignalEngine`.

The per-signal steps (parse, skip duplicates, decide, record, order, notify) are the engine's
(tradeflow/trading/engine.py). What this loop adds: the topic position is committed only after
every signal of a poll has its decision recorded, so a crash at any point loses no signal: it is
redelivered, and the duplicate check or the recovery of `pending` orders (looking the order up at
the broker first) finishes what was started.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from tradeflow.config import PRICES, SIGNALS, ConsumerSettings, Settings
from tradeflow.observability import FeedWatch
from tradeflow.topics import Backend, Message
from tradeflow.trading.clock import RiskClock, wall_now
from tradeflow.trading.engine import (  # noqa: F401 - re-exported for existing importers
    CLOCK_KEY,
    ConfigError,
    SignalEngine,
    _bracket_sane,
    broker_of,
    clock_mode,
    make_executor,
    make_notifier,
)
from tradeflow.trading.executors.base import Executor
from tradeflow.trading.killswitch import KillSwitch
from tradeflow.trading.notifiers.base import Notifier
from tradeflow.trading.store import Store

log = logging.getLogger("consumer")
GROUP = "consumer"


class Consumer(SignalEngine):
    """The signal flow (tradeflow.trading.engine) fed from the `trading-signals` topic."""

    # --- loops ------------------------------------------------------------------------------
    def run(self, once: bool = False, stop: threading.Event | None = None,
            poll_timeout: float = 1.0, batch: int = 100,
            feeds: dict[str, FeedWatch] | None = None) -> Counter[str]:
        """Consume `trading-signals` and `stock-prices` as group "consumer" until `stop` (or,
        with `once`, until both have nothing more). `feeds`: watches told what each topic
        delivered (the consumer's /healthz and feed lag)."""
        stop = stop or threading.Event()
        feeds = feeds or {}
        saw = {t: (_watching(feeds[t], field) if t in feeds else _ignore)
               for t, field in ((PRICES, "event_time"), (SIGNALS, "bar_time"))}
        self.recover()
        signals = self.backend.subscribe(SIGNALS, GROUP)
        bars = self.backend.subscribe(PRICES, GROUP)
        try:
            held: list[Message] = []  # bars after the last signal of a backlog, not handled yet
            while not stop.is_set():
                self.check_kill_switch()
                fresh = bars.poll(max_records=batch * 10, timeout=0) if len(held) < batch * 10 else []
                saw[PRICES](fresh)
                got_bars = held + fresh
                # A bar's signals come from the job a moment after the bar: wait for them a
                # little, so that they are decided before a later bar fills or exits anything.
                messages = signals.poll(
                    max_records=batch,
                    timeout=self.s.bar_hold_seconds if got_bars else poll_timeout)
                saw[SIGNALS](messages)
                if messages:
                    # The job saw a signal's bar before the signal, so the bar is readable now:
                    # it moves the market (fills at its open) before the signal is decided.
                    fresh = bars.poll(max_records=batch * 10, timeout=0)
                    saw[PRICES](fresh)
                    got_bars += fresh
                # A full batch of signals says more are waiting (a backlog, a restart): the bars
                # after its last signal wait for them, as they would in the backtest.
                held = self._in_time_order(got_bars, messages,
                                           hold_rest=len(messages) >= batch)
                if got_bars and not held:
                    self.save_bars_seen()
                    bars.commit()  # fills and exits of the bars above are recorded
                if messages:
                    signals.commit()  # every signal above is decided and recorded
                self.refresh_orders()
                if once and not messages and not got_bars:
                    break
        finally:
            signals.close()
            bars.close()
        return self.stats

    def _in_time_order(self, bars: list[Message], signals: list[Message],
                       hold_rest: bool = False) -> list[Message]:
        """Each signal after the bars up to its own bar, then the bars after the last signal
        (or, with `hold_rest`, return them unhandled): the order the backtest replays them in,
        whichever topic was read first."""
        pending = list(bars)
        # Signals of one bar by symbol, as the backtest decides them: which of two takes the
        # last slot of a limit must not depend on the order the job happened to write them in.
        for t, _, m in sorted(((_time_of(m.value, "bar_time"), _field(m.value, "symbol"), m)
                               for m in signals), key=_signal_order):
            while pending and t is not None and (_time_of(pending[0].value, "event_time")
                                                 or t) <= t:
                self.handle_bar_raw(pending.pop(0).value, PRICES)
            self.handle_raw(m.value, SIGNALS)
        if hold_rest:
            return pending
        for m in pending:
            self.handle_bar_raw(m.value, PRICES)
        return []

    def run_file(self, path: Path) -> Counter[str]:
        """Process a file of signal records (JSON lines) once; duplicates are still skipped.
        Bars (`stock-prices` records) may be mixed in, in time order: the paper broker's market."""
        self.recover()
        self.check_kill_switch()
        with open(path, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                raw = line.rstrip(b"\r\n")
                if _is_bar(raw):
                    self.handle_bar_raw(raw, f"file:{path.name}")
                else:
                    self.handle_raw(raw, f"file:{path.name}")
        self.save_bars_seen()
        self.refresh_orders(force=True)
        return self.stats


def _ignore(_messages: list[Message]) -> None:
    pass


def _watching(feed: FeedWatch, field: str) -> Callable[[list[Message]], None]:
    """Tell `feed` what a poll delivered, with the newest of the records' `field` times."""
    def saw(messages: list[Message]) -> None:
        times = [t for m in messages if (t := _time_of(m.value, field)) is not None]
        feed.saw(len(messages), max(times, default=None))
    return saw


def _time_of(raw: bytes, field: str) -> datetime | None:
    """The record's time, if it has a readable one (else the record is handled, and refused,
    in arrival order)."""
    try:
        t = datetime.fromisoformat(json.loads(raw)[field])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return t if t.tzinfo is not None else None


def _field(raw: bytes, name: str) -> str:
    try:
        return str(json.loads(raw).get(name, ""))
    except (ValueError, AttributeError):
        return ""


def _signal_order(item: tuple[datetime | None, str, Message]) -> tuple[datetime, str]:
    t, symbol, _ = item
    return (t or datetime.min.replace(tzinfo=timezone.utc), symbol)


def _is_bar(raw: bytes) -> bool:
    try:
        rec = json.loads(raw)
    except ValueError:
        return False
    return isinstance(rec, dict) and "event_time" in rec and "signal_id" not in rec


def build_consumer(shared: Settings, s: ConsumerSettings, backend: Backend, *,
                   executor: Executor | None = None, notifier: Notifier | None = None,
                   sleep: Callable[[float], None] = time.sleep,
                   wall: Callable[[], datetime] = wall_now) -> Consumer:
    """The consumer the settings describe (an executor or notifier can be given instead)."""
    broker = executor.name if executor is not None else broker_of(shared, s)
    mode = clock_mode(broker, s)
    store = Store(s.audit_path(shared))
    saved = store.get(CLOCK_KEY)
    latest = datetime.fromisoformat(saved.replace("Z", "+00:00")) if saved else None
    secrets = [v.get_secret_value() for v in (shared.apca_api_key_id, shared.apca_api_secret_key,
                                              s.slack_bot_token) if v is not None]
    log.info("consumer: broker %s, risk clock %s, notifications %s, audit %s, kill switch %s",
             broker, mode, "slack" if s.slack_enabled else "console", store.path,
             s.kill_path(shared))
    return Consumer(s, backend, executor or make_executor(broker, shared, s, sleep),
                    notifier or make_notifier(s), store, KillSwitch(s.kill_path(shared)),
                    RiskClock(mode, wall, latest if mode == "signal" else None,
                              max_ahead=s.risk_max_clock_skew_seconds),
                    secrets=secrets, sleep=sleep, wall=wall)
