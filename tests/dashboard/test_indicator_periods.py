"""The page draws with the job's indicator periods: strategy.toml, read by the job's loader,
reaches the page in the snapshot's config."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tradeflow.strategy import StrategyError, load_strategy

from dashboard.indicators import indicator_periods

from .conftest import OTHER_PERIODS, receive_json, serve, strategy_with


def _as_page_names(values: dict) -> dict:
    return {"sma": values["sma_fast"], "ema": values["ema_fast"], "rsi": values["rsi"],
            "macd_fast": values["macd_fast"], "macd_slow": values["macd_slow"],
            "macd_signal": values["macd_signal"], "bb_period": values["bb_period"],
            "bb_stddev": values["bb_stddev"], "rsi_oversold": values["rsi_oversold"],
            "rsi_overbought": values["rsi_overbought"]}


def test_default_periods_are_strategy_toml_s() -> None:
    loaded = load_strategy()
    assert indicator_periods() == _as_page_names({**loaded["indicators"], **loaded["signals"]})


@pytest.mark.integration
def test_snapshot_follows_a_changed_strategy(backend, data_settings, tmp_path: Path) -> None:
    path = strategy_with(tmp_path, OTHER_PERIODS)
    assert indicator_periods(path) == _as_page_names(OTHER_PERIODS)

    async def main() -> None:
        async with serve(backend, data_settings, strategy=path) as (dash, url), \
                aiohttp.ClientSession() as http:
            assert dash.snapshot_dict()["config"]["indicators"] == _as_page_names(OTHER_PERIODS)
            async with http.ws_connect(url + "/ws") as ws:
                snap = await receive_json(ws)
            assert snap["config"]["indicators"] == _as_page_names(OTHER_PERIODS)
            async with http.get(url + "/api/snapshot") as r:
                assert (await r.json())["config"]["indicators"] == _as_page_names(OTHER_PERIODS)

    asyncio.run(main())


def test_an_unreadable_strategy_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match=r"cannot read the indicator periods from .*none\.toml"):
        indicator_periods(tmp_path / "none.toml")
    partial = tmp_path / "partial.toml"
    partial.write_text("[indicators]\nsma_fast = 7\n[signals]\n", encoding="utf-8")
    with pytest.raises(StrategyError, match=r"partial\.toml has no ema_fast"):
        indicator_periods(partial)
