"""The indicator periods the page draws with: those the job computes, from strategy.toml.

Read with the loader the job uses (`tradeflow.strategy`), so the page's overlays and labels
follow the file instead of drifting from it. Read once, when the dashboard starts: the job too reads the
file only when it is submitted.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from tradeflow.strategy import STRATEGY_PATH, StrategyError, load_strategy


def indicator_periods(strategy: Path | None = None) -> dict[str, float]:
    """SMA, EMA, Bollinger, RSI and MACD settings of `strategy` (default: the repository's
    strategy.toml), plus the RSI levels the signal rules use, named as the page uses them.
    StrategyError (one line) when the file cannot be read or lacks one of them."""
    path = strategy or STRATEGY_PATH
    try:
        loaded = load_strategy(path)
        ind, rules = loaded["indicators"], loaded["signals"]
        return {"sma": ind["sma_fast"], "ema": ind["ema_fast"],
                "bb_period": ind["bb_period"], "bb_stddev": ind["bb_stddev"],
                "rsi": ind["rsi"], "rsi_oversold": rules["rsi_oversold"],
                "rsi_overbought": rules["rsi_overbought"],
                "macd_fast": ind["macd_fast"], "macd_slow": ind["macd_slow"],
                "macd_signal": ind["macd_signal"]}
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise StrategyError(f"cannot read the indicator periods from {path}: {err}") from None
    except KeyError as err:
        raise StrategyError(f"{path} has no {err.args[0]} (the page draws with it)") from None
