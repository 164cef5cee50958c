"""A seeded market simulator: correlated geometric Brownian motion with regime shifts and news.

Each symbol follows GBM whose drift and volatility come from a Markov regime (calm, bull, bear,
volatile) that switches now and then. A market factor correlates the symbols. Now and then a
news shock happens: a headline is published inside the bar, and the price drifts in the news'
direction over the next bars, so sentiment carries real (simulated) information. Everything is
drawn from one `random.Random(seed)`, so a seed always gives the same bars and headlines.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tradeflow.contracts import NewsItem, PriceBar
from tradeflow.trading import calendar

from .news_sim import headline_for

MINUTES_PER_YEAR = 252 * 390  # trading minutes: annual figures below scale by this


@dataclass(frozen=True)
class Regime:
    name: str
    drift: float  # annualised
    vol: float  # annualised
    volume_mult: float


REGIMES = (
    Regime("calm", 0.05, 0.15, 0.8),
    Regime("bull", 0.60, 0.25, 1.0),
    Regime("bear", -0.70, 0.35, 1.3),
    Regime("volatile", 0.0, 0.70, 1.8),
)


@dataclass
class _Symbol:
    symbol: str
    price: float
    base_volume: float
    beta: float
    regime: Regime
    shock_left: int = 0  # bars of news-driven drift remaining
    shock_drift: float = 0.0  # log-return per bar while the shock lasts
    pending_news: list[NewsItem] = field(default_factory=list)


@dataclass(frozen=True)
class SimConfig:
    bar_seconds: int = 60
    substeps: int = 6  # intra-bar path points for high/low
    regime_switch_prob: float = 1 / 240  # per bar: about one switch every four hours
    news_shock_prob: float = 1 / 400  # per symbol and bar
    neutral_news_prob: float = 1 / 600
    shock_bars: int = 15
    shock_size: tuple[float, float] = (0.01, 0.04)  # total log move of a shock
    # Bars only inside the US regular session (NYSE calendar), as a real feed of regular-hours
    # bars; off, the clock runs around the clock.
    session_only: bool = True


class MarketSimulator:
    """Yields, bar after bar, the bars of every symbol and the news published during that bar."""

    def __init__(self, symbols: list[str], seed: int = 7, start: datetime | None = None,
                 config: SimConfig | None = None) -> None:
        if not symbols:
            raise ValueError("the simulator needs at least one symbol")
        self.cfg = config or SimConfig()
        self.rng = random.Random(seed)
        start = start or datetime.now(timezone.utc)
        if start.tzinfo is None:
            raise ValueError("start time must carry a time zone")
        if self.cfg.session_only:
            start = _session_start(start)
        # Bars end on whole bar boundaries, like a real feed.
        epoch = int(start.timestamp()) // self.cfg.bar_seconds * self.cfg.bar_seconds
        self.bar_end = datetime.fromtimestamp(epoch, timezone.utc)
        # What makes a run repeatable: the same identity yields the same bars and headlines.
        self.identity = {"seed": seed, "symbols": list(symbols), "start": self.bar_end.isoformat(),
                         "config": repr(self.cfg)}
        self._news_seq = 0
        self.state = [
            _Symbol(s, price=round(self.rng.uniform(20, 500), 2),
                    base_volume=self.rng.uniform(5_000, 80_000),
                    beta=self.rng.uniform(0.5, 0.9), regime=self.rng.choice(REGIMES[:2]))
            for s in symbols
        ]

    def __iter__(self) -> Iterator[tuple[datetime, list[PriceBar], list[NewsItem]]]:
        while True:
            yield self.step()

    def step(self) -> tuple[datetime, list[PriceBar], list[NewsItem]]:
        cfg, rng = self.cfg, self.rng
        bar_start = self.bar_end
        if cfg.session_only:
            bar_start = _next_session_bar(bar_start, cfg.bar_seconds)
        self.bar_end = bar_start + timedelta(seconds=cfg.bar_seconds)
        dt = cfg.bar_seconds / 60 / MINUTES_PER_YEAR / cfg.substeps
        market = [rng.gauss(0, 1) for _ in range(cfg.substeps)]
        bars, news = [], []
        for s in self.state:
            if rng.random() < cfg.regime_switch_prob:
                s.regime = rng.choice([r for r in REGIMES if r is not s.regime])
            shock = s.shock_drift / cfg.substeps if s.shock_left > 0 else 0.0
            s.shock_left = max(0, s.shock_left - 1)
            mu, sigma = s.regime.drift, s.regime.vol
            path = [s.price]
            for m in market:
                z = s.beta * m + math.sqrt(1 - s.beta**2) * rng.gauss(0, 1)
                step = (mu - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * z + shock
                path.append(path[-1] * math.exp(step))
            o, c = path[0], path[-1]
            ret = abs(math.log(c / o))
            volume = s.base_volume * s.regime.volume_mult * rng.lognormvariate(0, 0.3) * (1 + 60 * ret)
            bars.append(PriceBar(
                symbol=s.symbol, event_time=self.bar_end, open=_cents(o), high=_cents(max(path)),
                low=_cents(min(path)), close=_cents(c), volume=float(int(volume)), source="sim"))
            s.price = c
            news.extend(self._maybe_news(s, bar_start))
        return self.bar_end, bars, news

    def _maybe_news(self, s: _Symbol, bar_start: datetime) -> list[NewsItem]:
        cfg, rng = self.cfg, self.rng
        roll = rng.random()
        if roll < cfg.news_shock_prob:
            tone = rng.choice((1, -1))
            size = rng.uniform(*cfg.shock_size)
            s.shock_left, s.shock_drift = cfg.shock_bars, tone * size / cfg.shock_bars
        elif roll < cfg.news_shock_prob + cfg.neutral_news_prob:
            tone = 0
        else:
            return []
        self._news_seq += 1
        # Published inside the bar, so it is known by the bar's end and may inform that bar's signal.
        published = bar_start + timedelta(seconds=rng.uniform(1, self.cfg.bar_seconds - 1))
        headline, summary = headline_for(s.symbol, tone, rng)
        return [NewsItem(id=f"sim-{self._news_seq:08d}", symbols=[s.symbol], headline=headline,
                         summary=summary, source="sim-news",
                         published_at=published.replace(microsecond=0), url=None)]


def _session_start(t: datetime) -> datetime:
    """`t` if the session is open then, else the open of the latest session before `t`."""
    if calendar.is_open(t):
        return t
    day = t.astimezone(calendar.NEW_YORK).date()
    for back in range(0, 15):
        bounds = calendar.session(day - timedelta(days=back))
        if bounds and bounds[0] <= t:
            return bounds[0].astimezone(timezone.utc)
    raise ValueError(f"no trading session in the two weeks before {t}")


def _next_session_bar(bar_start: datetime, bar_seconds: int) -> datetime:
    """`bar_start` if a whole bar fits before the close, else the next session's open."""
    local = bar_start.astimezone(calendar.NEW_YORK)
    day = local.date()
    bounds = calendar.session(day)
    if bounds and bounds[0] <= local and local + timedelta(seconds=bar_seconds) <= bounds[1]:
        return bar_start
    for ahead in range(0 if bounds and local < bounds[0] else 1, 15):
        nxt = calendar.session(day + timedelta(days=ahead))
        if nxt and nxt[0] >= local:
            return nxt[0].astimezone(timezone.utc)
    raise ValueError(f"no trading session in the two weeks after {bar_start}")


def _cents(x: float) -> float:
    return max(0.01, round(x, 2))
