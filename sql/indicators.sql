-- Everything the rules read about a bar, per symbol in event-time order, over the `timeline` view
-- (bars and scored news, timeline.sql): the technical indicators, their values at the previous
-- bar, the news sentiment known at the bar's end and the bars since the last price gap.
-- Needs the functions of functions.sql. One row per bar (news rows only feed the sentiment).
--
-- Indicators equal TA-Lib's (talib.SMA/EMA/RSI/MACD/BBANDS) and are NULL during each one's
-- warm-up, so downstream rules never act on half-formed values. Periods are placeholders filled
-- from strategy.toml by jobs/sql_loader.py; the column names (sma_20, rsi_14, ...) are the external
-- contract and stay the same when the periods behind them change. `close` and `open` are reserved
-- words in Flink SQL, hence the backquotes.
--
-- Why one window for all of it: every streaming OVER window is its own operator that buffers each
-- row until the watermark passes it, then sorts; three windows (indicators, news, previous values)
-- cost three times that. Flink also requires all OVER aggregates of a SELECT to share the frame.
--
-- The frame is RANGE, not ROWS: a bar and a story with the same timestamp are accumulated
-- together before either is emitted, so a bar sees the news published AT or before its end and
-- nothing later (no look-ahead), whatever order they arrived in. prices.sql leaves one bar per
-- (symbol, event_time), so for bars RANGE and ROWS agree. UNBOUNDED PRECEDING is cheap because
-- each function keeps only bounded state; stories older than the look-back leave the state.
--
-- Streaming: the OVER operator drops rows whose event_time <= the current watermark, so the
-- source's watermark must trail event_time (bars of several symbols share one timestamp).
-- MACD, BOLLINGER and NEWS_SENTIMENT return ROWs; the outer SELECT flattens them.
CREATE TEMPORARY VIEW indicators AS
SELECT
    symbol,
    event_time,
    `close`,
    sma_20,
    sma_50,
    ema_12,
    ema_26,
    rsi_14,
    t.macd_row.macd         AS macd,
    t.macd_row.macd_signal  AS macd_signal,
    t.macd_row.macd_hist    AS macd_hist,
    t.bb_row.bb_upper       AS bb_upper,
    t.bb_row.bb_middle      AS bb_middle,
    t.bb_row.bb_lower       AS bb_lower,
    -- the previous bar's values: the setups are crossings, which need "before" and "after"
    prev_close,
    prev_rsi,
    prev_sma_20 - prev_sma_50 AS prev_sma_gap,
    t.prev_macd_row.macd_hist AS prev_macd_hist,
    t.prev_bb_row.bb_upper  AS prev_bb_upper,
    t.prev_bb_row.bb_lower  AS prev_bb_lower,
    t.news.sentiment        AS sentiment,
    t.news.news_count       AS news_count,
    bars_since_gap
FROM (
    SELECT
        symbol,
        event_time,
        `close`,
        SMA(`close`, ${sma_fast})                                  OVER w AS sma_20,
        SMA(`close`, ${sma_slow})                                  OVER w AS sma_50,
        EMA(`close`, ${ema_fast})                                  OVER w AS ema_12,
        EMA(`close`, ${ema_slow})                                  OVER w AS ema_26,
        RSI(`close`, ${rsi})                                       OVER w AS rsi_14,
        MACD(`close`, ${macd_fast}, ${macd_slow}, ${macd_signal})  OVER w AS macd_row,
        BOLLINGER(`close`, ${bb_period}, CAST(${bb_stddev} AS DOUBLE)) OVER w AS bb_row,
        PREV_CLOSE(`close`)                                        OVER w AS prev_close,
        RSI(`close`, ${rsi}, 1)                                    OVER w AS prev_rsi,
        SMA(`close`, ${sma_fast}, 1)                               OVER w AS prev_sma_20,
        SMA(`close`, ${sma_slow}, 1)                               OVER w AS prev_sma_50,
        MACD(`close`, ${macd_fast}, ${macd_slow}, ${macd_signal}, 1) OVER w AS prev_macd_row,
        BOLLINGER(`close`, ${bb_period}, CAST(${bb_stddev} AS DOUBLE), 1) OVER w AS prev_bb_row,
        NEWS_SENTIMENT(news_score, event_time, ${sentiment_lookback_seconds},
                       ${sentiment_half_life_seconds})             OVER w AS news,
        BARS_SINCE_GAP(`close`, CAST(${gap_max_move} AS DOUBLE))   OVER w AS bars_since_gap
    FROM timeline
    WINDOW w AS (
        PARTITION BY symbol
        ORDER BY event_time
        RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
) AS t
WHERE `close` IS NOT NULL;
