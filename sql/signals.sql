-- The confluence rules: technical setups confirmed or vetoed by the news.
--
--   setups on the bar       news tone   ->  signal
--   bullish only            positive        BUY  STRONG
--   bullish only            neutral/none    BUY  NORMAL
--   bullish only            negative        none (vetoed by the news)
--   bearish only            negative        SELL STRONG
--   bearish only            neutral/none    SELL NORMAL
--   bearish only            positive        none (HOLD: the news disagrees)
--   bullish and bearish     any             none (the chart contradicts itself)
--
-- Confidence: ${confidence_base} for one setup, + ${confidence_per_setup} for each further
-- setup agreeing, + ${confidence_news_weight} x |sentiment| when the news agrees; at most 1.
--
-- Exits (exit_mode = ${exit_mode}): a BUY's stop below the close and its target above, a SELL's
-- the reverse, at a distance of
--   percent: ${stop_loss_pct} (stop) and ${take_profit_pct} (target) of the close;
--   atr:     ${stop_loss_atr} (stop) and ${take_profit_atr} (target) times the bar's ATR (atr_14),
--            so that the stop sits beyond the symbol's usual bar-to-bar range however volatile
--            it is. While ATR is still warming up (NULL), or so wide that a level would fall
--            to zero or below (right after a gap), the percent rule applies: no signal goes out
--            without a usable stop.
CREATE TEMPORARY VIEW scored_setups AS
SELECT *,
    rsi_left_oversold + golden_cross + macd_turned_up + back_above_lower_band AS bullish,
    rsi_left_overbought + death_cross + macd_turned_down + back_below_upper_band AS bearish
FROM setups;

CREATE TEMPORARY VIEW decisions AS
SELECT *,
    CASE WHEN bullish > 0 AND bearish = 0 AND news_tone <> 'negative' THEN 'BUY'
         WHEN bearish > 0 AND bullish = 0 AND news_tone <> 'positive' THEN 'SELL'
    END AS action,
    CASE WHEN (bullish > 0 AND news_tone = 'positive') OR (bearish > 0 AND news_tone = 'negative')
         THEN 'STRONG' ELSE 'NORMAL' END AS strength,
    '${exit_mode}' = 'atr' AND atr_14 IS NOT NULL
        AND `close` > GREATEST(${stop_loss_atr}, ${take_profit_atr}) * atr_14 AS atr_exits
FROM scored_setups;

CREATE TEMPORARY VIEW signals AS
SELECT
    1 AS v,
    SHA2(CONCAT_WS('|', '${strategy_name}', '${strategy_version}', symbol,
                   CAST(event_time AS STRING), action), 256) AS signal_id,
    symbol,
    action,
    strength,
    LEAST(1.0, CAST(${confidence_base} AS DOUBLE)
               + ${confidence_per_setup} * (GREATEST(bullish, bearish) - 1)
               + CASE WHEN strength = 'STRONG' THEN ${confidence_news_weight} * ABS(sentiment) ELSE 0 END
    ) AS confidence,
    `close` AS price,
    event_time AS bar_time,
    CURRENT_TIMESTAMP AS emitted_at,
    MAP['sma_20', sma_20, 'sma_50', sma_50, 'ema_12', ema_12, 'ema_26', ema_26,
        'rsi_14', rsi_14, 'atr_14', atr_14, 'macd', macd, 'macd_signal', macd_signal, 'macd_hist', macd_hist,
        'bb_upper', bb_upper, 'bb_middle', bb_middle, 'bb_lower', bb_lower] AS indicators,
    sentiment,
    CONCAT_WS('; ',
        CASE WHEN rsi_left_oversold = 1 THEN CONCAT('RSI left oversold (', CAST(ROUND(prev_rsi, 1) AS STRING), ' -> ', CAST(ROUND(rsi_14, 1) AS STRING), ')') END,
        CASE WHEN golden_cross = 1 THEN 'SMA20 crossed above SMA50' END,
        CASE WHEN macd_turned_up = 1 THEN 'MACD histogram turned positive' END,
        CASE WHEN back_above_lower_band = 1 THEN 'close back above the lower Bollinger band' END,
        CASE WHEN rsi_left_overbought = 1 THEN CONCAT('RSI left overbought (', CAST(ROUND(prev_rsi, 1) AS STRING), ' -> ', CAST(ROUND(rsi_14, 1) AS STRING), ')') END,
        CASE WHEN death_cross = 1 THEN 'SMA20 crossed below SMA50' END,
        CASE WHEN macd_turned_down = 1 THEN 'MACD histogram turned negative' END,
        CASE WHEN back_below_upper_band = 1 THEN 'close back below the upper Bollinger band' END,
        CASE WHEN sentiment IS NULL THEN 'no recent news'
             ELSE CONCAT(news_tone, ' news (sentiment ', CAST(ROUND(sentiment, 2) AS STRING),
                         ', ', CAST(news_count AS STRING), ' stories)') END
    ) AS reason,
    '${strategy_name}' AS strategy,
    '${strategy_version}' AS strategy_version,
    CASE WHEN action = 'BUY' AND atr_exits THEN `close` - ${stop_loss_atr} * atr_14
         WHEN action = 'BUY'               THEN `close` * (1 - ${stop_loss_pct})
         WHEN atr_exits                    THEN `close` + ${stop_loss_atr} * atr_14
         ELSE                                   `close` * (1 + ${stop_loss_pct}) END AS stop_loss,
    CASE WHEN action = 'BUY' AND atr_exits THEN `close` + ${take_profit_atr} * atr_14
         WHEN action = 'BUY'               THEN `close` * (1 + ${take_profit_pct})
         WHEN atr_exits                    THEN `close` - ${take_profit_atr} * atr_14
         ELSE                                   `close` * (1 - ${take_profit_pct}) END AS take_profit,
    ${horizon_bars} AS horizon_bars
FROM decisions
WHERE action IS NOT NULL;
