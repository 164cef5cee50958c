"""Signal quality, independent of execution: does the signal's direction predict what follows?

For each signal (direction d = +1 for BUY, -1 for SELL) on bar i of its symbol, the forward
return at horizon h is close[i+h] / close[i] - 1, counted in that symbol's bars. This looks
ahead ON PURPOSE and only here: it measures the signals, it never feeds a decision.
Signals with fewer than h bars after them are left out of horizon h.

* hit rate: share of signals with d x r > 0 (a zero return is not a hit);
* information coefficient: Spearman rank correlation of d and r over all signals of all symbols
  (Pearson correlation of their ranks, ties ranked by their average), None when either side is
  constant;
* mean signed return: mean of d x r.
Across horizons 1, 5, 15, 60 bars this is the decay curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeflow.contracts import Action, TradingSignal

HORIZONS = (1, 5, 15, 60)


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


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    a, b = np.asarray(x, float), np.asarray(y, float)
    if len(a) < 2:
        return None
    ra, rb = rank(a), rank(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else None


def forward_returns(bars: pd.DataFrame, signals: Sequence[TradingSignal],
                    horizons: Sequence[int] = HORIZONS) -> pd.DataFrame:
    """One row per signal found in the bars: direction and r_h per horizon (NaN past the end)."""
    rows = []
    per_symbol = {sym: g.reset_index(drop=True) for sym, g in bars.groupby("symbol")}
    position = {sym: pd.Series(g.index, index=g["time"]) for sym, g in per_symbol.items()}
    for sig in signals:
        pos = position.get(sig.symbol)
        t = pd.Timestamp(sig.bar_time)
        if pos is None or t not in pos.index:
            continue
        i = int(pos[t])
        close = per_symbol[sig.symbol]["close"].to_numpy(float)
        row: dict[str, Any] = {"signal_id": sig.signal_id, "symbol": sig.symbol, "time": t,
                               "direction": 1 if sig.action is Action.BUY else -1}
        for h in horizons:
            row[f"r{h}"] = close[i + h] / close[i] - 1 if i + h < len(close) else np.nan
        rows.append(row)
    cols = ["signal_id", "symbol", "time", "direction"] + [f"r{h}" for h in horizons]
    return pd.DataFrame(rows, columns=cols)


def decay(bars: pd.DataFrame, signals: Sequence[TradingSignal],
          horizons: Sequence[int] = HORIZONS) -> list[dict[str, Any]]:
    fwd = forward_returns(bars, signals, horizons)
    out = []
    for h in horizons:
        sub = fwd.dropna(subset=[f"r{h}"])
        d, r = sub["direction"].to_numpy(float), sub[f"r{h}"].to_numpy(float)
        signed = d * r
        out.append({"horizon_bars": h, "signals": int(len(sub)),
                    "hit_rate": float((signed > 0).mean()) if len(sub) else None,
                    "ic": spearman(d, r),
                    "mean_signed_return": float(signed.mean()) if len(sub) else None,
                    "buy_mean_return": float(r[d > 0].mean()) if (d > 0).any() else None,
                    "sell_mean_return": float(r[d < 0].mean()) if (d < 0).any() else None})
    return out
