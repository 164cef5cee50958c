"""Signal quality, independent of execution: does the signal's direction predict what follows,
and how sure can one be of it?

Forward returns. For a signal (direction d = +1 for BUY, -1 for SELL) on bar i of its symbol,
the forward return at horizon h is r = close[i+h] / close[i] - 1, counted in that symbol's bars.
This looks ahead ON PURPOSE and only here: it measures the signals, it never feeds a decision.
Signals with fewer than h bars after them are left out of horizon h. Horizons: 1, 5, 15 and 60
bars (the decay curve), and each signal's OWN horizon, its `horizon_bars` (the longest its
position is held; strategy.toml's `horizon_bars` for a signal that states none). A window that
holds a price gap is left out too (`left_out_for_gaps`): a close-to-close move beyond
strategy.toml's `gap_max_move` either way (|log move| > log(1 + gap_max_move), the SQL's
BARS_SINCE_GAP rule) is a split or a bad print, not a return the signal could have earned, and
one such window outweighs thousands of ordinary ones in a mean.

Per set of signals:
* hit rate: share of signals with d x r > 0 (a zero return is not a hit);
* information coefficient (IC): Spearman rank correlation of d and r (Pearson correlation of
  their ranks, ties ranked by their average), None when either side is constant;
* mean signed return: mean of d x r.

Overlap. Signals whose forward windows overlap share the same price moves: they are not
independent, and counting them as if they were overstates every t-statistic (one setup firing
on 30 consecutive bars is about one observation, not 30). Standard errors are therefore HAC,
Newey-West with Bartlett weights, for the mean of a per-signal series x:

    Var(mean x) = (1/n^2) sum_j sum_k w_jk u_j u_k,   u = x - mean x,
    w_jk = |W_j & W_k| / sqrt(|W_j| |W_k|),

W_j being signal j's forward window [bar i, bar i+h) in positions on the grid of all bar end
times (every symbol's). With one signal per bar and one horizon h, w = 1 - lag/h: this is
Newey-West with lag h - 1 on the time-ordered series (tests/backtest/test_signal_value.py
checks it against a hand computation). Written on windows, it also covers signals that are
sparse, of several symbols (windows overlapping in time count as dependent whatever the symbol,
as in Driscoll-Kraay) or of different horizons, and stays positive semi-definite (w is the Gram
matrix of the windows' normalised indicator functions).

* mean signed return: t = mean / SE, 95 % CI mean +- 1.96 SE (`mean_signed_return_t_iid`: the
  naive t, SE = s / sqrt(n), for comparison);
* hit rate: the mean of the hit indicator, the same way: t against 0.5, CI hit +- 1.96 SE;
* IC: t = IC sqrt((n_eff - 2) / (1 - IC^2)) and the 95 % CI by Fisher's z,
  tanh(atanh(IC) +- 1.96 / sqrt(n_eff - 3)), with the effective sample size
  n_eff = n x Var_iid / Var_HAC of the mean of the standardised rank products (their mean is
  the IC): the overlap's design effect, capped at n.
The HAC variance may come out below the naive one, rightly: a BUY and a SELL of one symbol whose
windows overlap hedge each other (their signed returns move against each other).
Normal quantiles throughout: the HAC variance is a large-sample estimate anyway. Under heavy
overlap Newey-West is still somewhat optimistic: BUYs on every other bar of a driftless random
walk, 20-bar windows, 300 seeded runs: |t| > 1.96 in 10 % of them (the naive t: 50 %); with
random directions, 5 %.

Groups, at the own horizon: all signals; by setup (the setups `reason` names, see SETUPS; a
signal with several counts in each); by news tone (sentiment > 0, < 0, none or 0); and the
calibration table, stated confidence in buckets of 0.1 against the realised hit rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeflow.contracts import Action, TradingSignal

from .data import finite

HORIZONS = (1, 5, 15, 60)
Z95 = 1.959963984540054  # standard normal 97.5 % quantile: two-sided 95 %
CONFIDENCE_STEP = 0.1
PAIRS_PER_CHUNK = 1_000_000

# How `reason` (sql/signals.sql) names each setup, bullish and bearish: a family holds both
# sides, so that its IC (direction against return) is defined.
SETUPS: dict[str, tuple[str, ...]] = {
    "RSI": ("RSI left oversold", "RSI left overbought"),
    "SMA cross": ("SMA20 crossed above SMA50", "SMA20 crossed below SMA50"),
    "MACD": ("MACD histogram turned positive", "MACD histogram turned negative"),
    "Bollinger": ("close back above the lower Bollinger band",
                  "close back below the upper Bollinger band"),
}
OTHER_SETUP = "other"  # a reason naming none of them (another strategy's signals)
TONES = ("positive", "negative", "none/neutral")


def rank(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the average of the ranks they span."""
    values = np.asarray(values, float)
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    ranks = np.empty(len(values), float)
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _rank_products(x: Sequence[float], y: Sequence[float]) -> np.ndarray | None:
    """Per pair, the product of the standardised ranks: their mean is Spearman's rho."""
    a, b = np.asarray(x, float), np.asarray(y, float)
    if len(a) < 2:
        return None
    ra, rb = rank(a), rank(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    sa, sb = float(np.sqrt((ra ** 2).mean())), float(np.sqrt((rb ** 2).mean()))
    if sa == 0 or sb == 0:
        return None
    return (ra / sa) * (rb / sb)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    z = _rank_products(x, y)
    return None if z is None else float(z.mean())


def setups_of(reason: str) -> list[str]:
    """The setup families a signal's `reason` names."""
    found = [name for name, phrases in SETUPS.items() if any(p in reason for p in phrases)]
    return found or [OTHER_SETUP]


def tone_of(sentiment: float | None) -> str:
    if sentiment is None or sentiment == 0:
        return "none/neutral"
    return "positive" if sentiment > 0 else "negative"


def confidence_bucket(confidence: float) -> float:
    """Lower edge of the confidence bucket: [0.5, 0.6) -> 0.5; 1.0 joins [0.9, 1.0]."""
    # Rounded first: 0.5 + 0.1 lands a hair below 0.6 in floating point.
    k = math.floor(round(confidence / CONFIDENCE_STEP, 9))
    return round(min(k, round(1 / CONFIDENCE_STEP) - 1) * CONFIDENCE_STEP, 10)


def _strategy_param(name: str) -> Any:
    from jobs.sql_loader import load_strategy

    return load_strategy()["signals"][name]


def forward_returns(bars: pd.DataFrame, signals: Sequence[TradingSignal],
                    horizons: Sequence[int] = HORIZONS, default_horizon: int | None = None,
                    gap_max_move: float | None = None) -> pd.DataFrame:
    """One row per signal found in the bars: what it says (direction, confidence, setups, tone),
    `start` (its bar's position on the grid of all bar times), `h_own`, and per horizon (1, 5,
    ... and `_own`) the forward return r{h}, the grid position end{h} of its window's last bar
    (NaN and -1 past the end of the data or across a gap) and gap{h}, whether the window holds a
    gap. `default_horizon` and `gap_max_move` default to strategy.toml's."""
    keys = [*map(str, horizons), "_own"]
    cols = ["signal_id", "symbol", "time", "direction", "confidence", "setups", "tone", "start",
            "h_own", *(f"{p}{key}" for key in keys for p in ("r", "end", "gap"))]
    sigs = _signal_frame(signals, default_horizon)
    if sigs.empty:
        return pd.DataFrame(columns=cols)
    # Symbol by symbol in time order, so that bar i+h of a signal's symbol is row i+h.
    b = bars[["symbol", "time", "close"]].sort_values(["symbol", "time"]).reset_index(drop=True)
    close = b["close"].to_numpy(float)
    after = b.groupby("symbol").cumcount(ascending=False).to_numpy()  # bars after, same symbol
    gaps = _gaps_so_far(b, _strategy_param("gap_max_move") if gap_max_move is None
                        else gap_max_move)
    on_grid = pd.DatetimeIndex(np.sort(b["time"].unique())).get_indexer(b["time"])
    rows = b[["symbol", "time"]].assign(row=np.arange(len(b)))
    fwd = sigs.merge(rows, on=["symbol", "time"], how="inner")  # keeps the signals' order
    i = fwd["row"].to_numpy(int)
    fwd["start"] = on_grid[i]
    for key, h in [*((str(h), np.full(len(i), h)) for h in horizons),
                   ("_own", fwd["h_own"].to_numpy(int))]:
        ahead = after[i] >= h
        j = np.where(ahead, i + h, i)
        gap = gaps[j] > gaps[i]
        fwd[f"r{key}"] = np.where(ahead & ~gap, close[j] / close[i] - 1, np.nan)
        fwd[f"end{key}"] = np.where(ahead & ~gap, on_grid[j], -1)
        fwd[f"gap{key}"] = gap
    return fwd[cols]


def _gaps_so_far(b: pd.DataFrame, max_move: float) -> np.ndarray:
    """Per row of `b` (by symbol, in time order): the gaps of its symbol up to that bar."""
    close, symbol = b["close"].to_numpy(float), b["symbol"].to_numpy()
    jump = np.abs(np.log(close[1:] / close[:-1])) > math.log1p(max_move)
    return np.concatenate([[0], np.cumsum(jump & (symbol[1:] == symbol[:-1]))])


def _signal_frame(signals: Sequence[TradingSignal], default_horizon: int | None) -> pd.DataFrame:
    """What each signal says, one row each; a signal without a horizon gets the default."""
    fallback: list[int] = []  # strategy.toml read once, and only when a signal has no horizon
    setups: dict[str, list[str]] = {}  # a few hundred distinct reasons among many signals
    rows = []
    for sig in signals:
        if sig.horizon_bars is None and not fallback:
            fallback.append(default_horizon or int(_strategy_param("horizon_bars")))
        if sig.reason not in setups:
            setups[sig.reason] = setups_of(sig.reason)
        rows.append((sig.signal_id, sig.symbol, sig.bar_time,
                     1 if sig.action is Action.BUY else -1, sig.confidence,
                     setups[sig.reason], tone_of(sig.sentiment),
                     sig.horizon_bars or fallback[0]))
    out = pd.DataFrame(rows, columns=["signal_id", "symbol", "time", "direction", "confidence",
                                      "setups", "tone", "h_own"])
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out


def _overlap_sums(u: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """sum_j sum_k w_jk u_j u_k per column of u (n x m), w the window overlap (module doc)."""
    windows, which = np.unique(np.column_stack([start, end]), axis=0, return_inverse=True)
    # Signals sharing a window (same bar, symbol and horizon) are one observation: weight 1.
    summed = np.zeros((len(windows), u.shape[1]))
    np.add.at(summed, np.ravel(which), u)
    s, e = windows[:, 0].astype(float), windows[:, 1].astype(float)  # sorted by start
    length = e - s
    total = (summed ** 2).sum(axis=0)
    # Pairs j < k that overlap: k from j+1 up to the last window starting before j ends.
    counts = np.searchsorted(s, e, side="left") - np.arange(1, len(s) + 1)
    cum = np.concatenate([[0], np.cumsum(counts)])
    lo = 0
    while lo < len(s):  # in chunks of about PAIRS_PER_CHUNK pairs, to bound the memory
        hi = max(lo + 1, int(np.searchsorted(cum, cum[lo] + PAIRS_PER_CHUNK, side="right")) - 1)
        j = np.repeat(np.arange(lo, hi), counts[lo:hi])
        k = j + 1 + np.arange(len(j)) - np.repeat(cum[lo:hi] - cum[lo], counts[lo:hi])
        w = (np.minimum(e[j], e[k]) - s[k]) / np.sqrt(length[j] * length[k])
        total += 2 * (summed[j] * summed[k] * w[:, None]).sum(axis=0)
        lo = hi
    return total


def hac_var_of_mean(x: Sequence[float], start: Sequence[int], end: Sequence[int]) -> float:
    """Variance of mean(x) for observations whose windows [start, end) overlap (module doc)."""
    x = np.asarray(x, float)
    u = (x - x.mean())[:, None]
    return float(_overlap_sums(u, np.asarray(start), np.asarray(end))[0] / len(x) ** 2)


def _ci(centre: float, se: float, lo: float = -math.inf, hi: float = math.inf) -> list[float | None]:
    return [finite(max(lo, centre - Z95 * se)), finite(min(hi, centre + Z95 * se))]


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _ic_figures(ic: float | None, z: np.ndarray | None, uwu: float | None) -> dict[str, Any]:
    """t, 95 % CI and effective sample size of the IC (module doc)."""
    if ic is None or z is None or uwu is None:
        return {"ic_t": None, "ic_ci": [None, None], "n_eff": None}
    n = len(z)
    uu = float(((z - z.mean()) ** 2).sum())
    n_eff = min(float(n), n * uu / uwu) if uwu > 0 else float(n)
    t = ic * math.sqrt((n_eff - 2) / (1 - ic ** 2)) if n_eff > 2 and abs(ic) < 1 else None
    ci: list[float | None] = [None, None]
    if n_eff > 3 and abs(ic) < 1:
        half = Z95 / math.sqrt(n_eff - 3)
        ci = [math.tanh(math.atanh(ic) - half), math.tanh(math.atanh(ic) + half)]
    return {"ic_t": finite(t), "ic_ci": ci, "n_eff": n_eff}


def summarise(d: np.ndarray, r: np.ndarray, start: np.ndarray, end: np.ndarray) -> dict[str, Any]:
    """Hit rate, IC and mean signed return of directions d against forward returns r, with
    overlap-adjusted t-statistics and 95 % confidence intervals (module doc)."""
    d, r = np.asarray(d, float), np.asarray(r, float)
    n = len(d)
    out: dict[str, Any] = {"signals": n}
    if n == 0:
        return {**out, "hit_rate": None, "hit_rate_t": None, "hit_rate_ci": [None, None],
                "ic": None, "ic_t": None, "ic_ci": [None, None], "n_eff": None,
                "mean_signed_return": None, "mean_signed_return_t": None,
                "mean_signed_return_t_iid": None, "mean_signed_return_ci": [None, None],
                "buy_mean_return": None, "sell_mean_return": None}
    signed = d * r
    hits = (signed > 0).astype(float)
    z = _rank_products(d, r)
    series = np.column_stack([signed, hits] + ([z] if z is not None else []))
    u = series - series.mean(axis=0)
    uwu = _overlap_sums(u, np.asarray(start), np.asarray(end))
    se_signed, se_hit = (math.sqrt(max(v, 0.0)) / n for v in uwu[:2])
    mean, hit = float(signed.mean()), float(hits.mean())
    se_iid = math.sqrt(float((u[:, 0] ** 2).sum()) / (n * (n - 1))) if n > 1 else 0.0
    ic = None if z is None else float(z.mean())
    return {
        **out,
        "hit_rate": hit, "hit_rate_t": finite(_ratio(hit - 0.5, se_hit)),
        "hit_rate_ci": _ci(hit, se_hit, 0.0, 1.0),
        "ic": ic, **_ic_figures(ic, z, None if z is None else float(uwu[2])),
        "mean_signed_return": mean, "mean_signed_return_t": finite(_ratio(mean, se_signed)),
        "mean_signed_return_t_iid": finite(_ratio(mean, se_iid)),
        "mean_signed_return_ci": _ci(mean, se_signed),
        "buy_mean_return": float(r[d > 0].mean()) if (d > 0).any() else None,
        "sell_mean_return": float(r[d < 0].mean()) if (d < 0).any() else None,
    }


def _summarise_rows(fwd: pd.DataFrame, key: str) -> dict[str, Any]:
    sub = fwd[fwd[f"end{key}"] >= 0]
    return summarise(sub["direction"].to_numpy(float), sub[f"r{key}"].to_numpy(float),
                     sub["start"].to_numpy(), sub[f"end{key}"].to_numpy())


def _horizon_row(fwd: pd.DataFrame, key: str) -> dict[str, Any]:
    return {**_summarise_rows(fwd, key), "left_out_for_gaps": int(fwd[f"gap{key}"].sum())}


def _groups(measured: pd.DataFrame, names: Sequence[str],
            member: Callable[[pd.DataFrame, str], pd.Series]) -> list[dict[str, Any]]:
    """One own-horizon summary per group that has signals, in the order of `names`."""
    out = []
    for name in names:
        sub = measured[member(measured, name)]
        if len(sub):
            out.append({"group": name, **_summarise_rows(sub, "_own")})
    return out


def calibration(measured: pd.DataFrame) -> list[dict[str, Any]]:
    """Stated confidence, in buckets, against the hit rate realised at the own horizon (of the
    signals that have one: `end_own` >= 0)."""
    bucket = measured["confidence"].map(confidence_bucket)
    rows = []
    for low in sorted(bucket.unique()):
        sub = measured[bucket == low]
        high = round(low + CONFIDENCE_STEP, 10)
        closing = "]" if high >= 1 else ")"
        rows.append({"bucket": f"[{low:.1f}, {high:.1f}{closing}", "low": low, "high": high,
                     "mean_confidence": float(sub["confidence"].mean()),
                     **_summarise_rows(sub, "_own")})
    return rows


def own_horizon(fwd: pd.DataFrame) -> dict[str, Any]:
    """All signals, by setup, by news tone, and the calibration table, at each signal's own
    horizon."""
    measured = fwd[fwd["end_own"] >= 0]
    setups = [*SETUPS, OTHER_SETUP]
    return {
        "horizon_bars": sorted(int(h) for h in measured["h_own"].unique()),
        "all": _horizon_row(fwd, "_own"),
        "by_setup": _groups(measured, setups,
                            lambda f, name: f["setups"].map(lambda s: name in s).astype(bool)),
        "by_tone": _groups(measured, TONES, lambda f, name: f["tone"] == name),
        "calibration": calibration(measured),
    }


def decay(bars: pd.DataFrame, signals: Sequence[TradingSignal],
          horizons: Sequence[int] = HORIZONS, default_horizon: int | None = None,
          gap_max_move: float | None = None) -> dict[str, Any]:
    """The report's signal-quality block: the decay over fixed horizons (`horizons`, one row
    each) and the value at each signal's own horizon (`own_horizon`)."""
    fwd = forward_returns(bars, signals, horizons, default_horizon, gap_max_move)
    return {"horizons": [{"horizon_bars": h, **_horizon_row(fwd, str(h))} for h in horizons],
            "own_horizon": own_horizon(fwd)}
