"""How many shares an opening trade gets.

Fixed fractional (default): a fixed fraction of equity per trade, so size follows the account.
Volatility-scaled: size so that a move to the signal's stop loses a fixed fraction of equity;
a wide stop (a volatile name) gets fewer shares. A signal without a usable stop falls back to
fixed fractional. Quantities are rounded down (never up: rounding must not breach a limit) to
whole shares unless fractional shares are enabled.
"""

from __future__ import annotations

import math

from tradeflow.contracts import TradingSignal

from tradeflow.config import ConsumerSettings, Sizing


def position_size(sig: TradingSignal, equity: float, s: ConsumerSettings) -> tuple[float, str]:
    """(quantity, how it was computed). Quantity 0 means the trade is too small to place."""
    price = sig.price
    stop_distance = abs(price - sig.stop_loss) if sig.stop_loss is not None else 0.0
    if s.sizing is Sizing.volatility and stop_distance > 0:
        raw = equity * s.sizing_risk_fraction / stop_distance
        how = (f"volatility: {s.sizing_risk_fraction:g} of equity {equity:.2f} at risk over a "
               f"stop distance of {stop_distance:.4g}")
    else:
        raw = equity * s.sizing_fraction / price
        how = f"fixed fractional: {s.sizing_fraction:g} of equity {equity:.2f}"
    qty = math.floor(raw * 1e4) / 1e4 if s.fractional_shares else float(math.floor(raw))
    return max(qty, 0.0), how
