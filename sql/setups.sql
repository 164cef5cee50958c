-- The technical setups of each bar: crossings, from the bar's indicators and the previous bar's
-- (indicators.sql). A setup strategy.toml turns off never fires. Only bars whose indicators (and
-- their previous values) are all warmed up, and that are far enough from a price gap, may set
-- anything up.
CREATE TEMPORARY VIEW setups AS
SELECT *,
    -- bullish setups: 1 when the setup fires on this bar
    SETUP('${rsi_setup}' = 'on' AND prev_rsi < ${rsi_oversold} AND rsi_14 >= ${rsi_oversold})
        AS rsi_left_oversold,
    SETUP('${cross_setup}' = 'on' AND prev_sma_gap <= 0 AND sma_20 - sma_50 > 0) AS golden_cross,
    SETUP('${macd_setup}' = 'on' AND prev_macd_hist <= 0 AND macd_hist > 0) AS macd_turned_up,
    SETUP('${band_setup}' = 'on' AND prev_close < prev_bb_lower AND `close` >= bb_lower)
        AS back_above_lower_band,
    -- bearish setups
    SETUP('${rsi_setup}' = 'on' AND prev_rsi > ${rsi_overbought} AND rsi_14 <= ${rsi_overbought})
        AS rsi_left_overbought,
    SETUP('${cross_setup}' = 'on' AND prev_sma_gap >= 0 AND sma_20 - sma_50 < 0) AS death_cross,
    SETUP('${macd_setup}' = 'on' AND prev_macd_hist >= 0 AND macd_hist < 0) AS macd_turned_down,
    SETUP('${band_setup}' = 'on' AND prev_close > prev_bb_upper AND `close` <= bb_upper)
        AS back_below_upper_band,
    -- the news verdict
    CASE WHEN sentiment >= ${sentiment_positive} THEN 'positive'
         WHEN sentiment <= ${sentiment_negative} THEN 'negative'
         ELSE 'neutral' END AS news_tone
FROM indicators
WHERE sma_50 IS NOT NULL AND ema_26 IS NOT NULL AND rsi_14 IS NOT NULL
  AND macd_hist IS NOT NULL AND bb_lower IS NOT NULL
  AND prev_rsi IS NOT NULL AND prev_sma_gap IS NOT NULL AND prev_macd_hist IS NOT NULL
  AND prev_bb_lower IS NOT NULL
  AND bars_since_gap >= ${gap_quiet_bars};
