"""Reproduce the report in docs/backtest_report.png from ../shared/data (StockNet prices + tweets).

    .venv/bin/python -m backtest.example [OUT_DIR]     # default /tmp/tradeflow-backtest

Seven large caps, daily bars 2012-09..2017-09 (split-adjusted Yahoo prices), 55,875 tweets as
the news stream, 8% of equity per trade (the live default is 2%; 8% keeps orders under the
live 10,000 max_order_value limit as equity grows), 5 bps slippage, 1 bp fees,
walk-forward over the default grid, every bar's indicators (the charts' overlays).
"""

from __future__ import annotations

import sys
from pathlib import Path

from backtest.cli import backtest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stocknet-tweets-prices"
SYMBOLS = ("AAPL", "AMZN", "BAC", "FB", "GOOG", "INTC", "MSFT")


def argv(out: str) -> list[str]:
    args = [a for s in SYMBOLS for a in ("--prices", str(DATA / "price_raw" / f"{s}.csv"))]
    return args + ["--news", str(DATA / "stocknet_tweets_8tickers.csv"), "--out", out,
                   "--slippage-bps", "5", "--fee-bps", "1", "--risk", "sizing_fraction=0.08",
                   "--walk-forward", "--indicators"]


if __name__ == "__main__":
    if not DATA.exists():
        sys.exit(f"{DATA} is absent (see ../shared/data/README.md)")
    backtest.main(argv(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tradeflow-backtest"),
                  prog_name="tradeflow backtest")
