-- Everything the rules read about a bar, per symbol in event-time order, over the `timeline` view
-- (bars and scored news, timeline.sql): the technical indicators, their values at the previous
-- bar, the news sentiment known at the bar's end and the bars since the last price gap.
-- Needs the functions of functions.sql. One row per bar (news rows only feed the sentiment).
--
-- Indicators equal TA-Lib's (talib.SMA/EMA/RSI/ATR/MACD/BBANDS) and are NULL during each one's
-- warm-up, so downstream rules never act on half-formed values. Periods are placeholders filled
-- from strategy.toml by jobs/sql_loader.py; the column names (sma_20, rsi_14, ...) are the external
-- contract and stay the same when the periods behind them change. `close` and `open` are reserved
-- words in Flink SQL, hence the backquotes.
--
-- Why one window for all of it: every streaming OVER window is its own operator that buffers each
-- row until the watermark passes it, then sorts; three windows (indicators, news, previous values)
-- cost three times that. Flink also requires all OVER aggregates of a SELECT to share the frame.
--
-- The frame is ROWS: each row is accumulated and emitted in event-time order, rows with the same
-- timestamp in arrival order. Every bar function takes the bar's event_time and skips a bar whose
-- time it has already taken, and REPEATED_BAR flags such a repeat so the WHERE drops its row:
-- a bar delivered twice counts once, the first to arrive, with no state beyond the window's own.
-- A story sits on the timeline one millisecond before its publication (market_news.sql), so a
-- bar sees every story published at or before its end, whatever the arrival order, and
-- NEWS_SENTIMENT ignores a story published after the bar (no look-ahead). UNBOUNDED PRECEDING is
-- cheap because each function keeps only bounded state; stories older than the look-back leave it.
--
-- Streaming: the OVER operator drops rows whose event_time <= the current watermark, so the
-- source's watermark must trail event_time (bars of several symbols share one timestamp).
-- Every function returns a ROW (an indicator's value at this bar and at the bar before, one
-- function call for both); the outer SELECT flattens them.
CREATE TEMPORARY VIEW indicators AS
SELECT
    symbol,
    event_time,
    `close`,
    t.sma_fast.this_bar      AS sma_20,
    t.sma_slow.this_bar      AS sma_50,
    t.ema_fast.this_bar      AS ema_12,
    t.ema_slow.this_bar      AS ema_26,
    t.rsi.this_bar           AS rsi_14,
    t.atr.this_bar           AS atr_14,
    t.macd_row.macd          AS macd,
    t.macd_row.macd_signal   AS macd_signal,
    t.macd_row.macd_hist     AS macd_hist,
    t.bb_row.bb_upper        AS bb_upper,
    t.bb_row.bb_middle       AS bb_middle,
    t.bb_row.bb_lower        AS bb_lower,
    -- the previous bar's values: the setups are crossings, which need "before" and "after"
    prev_close,
    t.rsi.prev_bar           AS prev_rsi,
    t.sma_fast.prev_bar - t.sma_slow.prev_bar AS prev_sma_gap,
    t.macd_row.prev_macd_hist AS prev_macd_hist,
    t.bb_row.prev_bb_upper   AS prev_bb_upper,
    t.bb_row.prev_bb_lower   AS prev_bb_lower,
    t.news.sentiment         AS sentiment,
    t.news.news_count        AS news_count,
    bars_since_gap
FROM (
    SELECT
        symbol,
        event_time,
        `close`,
        SMA(`close`, event_time, ${sma_fast})                          OVER w AS sma_fast,
        SMA(`close`, event_time, ${sma_slow})                          OVER w AS sma_slow,
        EMA(`close`, event_time, ${ema_fast})                          OVER w AS ema_fast,
        EMA(`close`, event_time, ${ema_slow})                          OVER w AS ema_slow,
        RSI(`close`, event_time, ${rsi})                               OVER w AS rsi,
        ATR(high, low, `close`, event_time, ${atr_period})             OVER w AS atr,
        MACD(`close`, event_time, ${macd_fast}, ${macd_slow}, ${macd_signal}) OVER w AS macd_row,
        BOLLINGER(`close`, event_time, ${bb_period}, CAST(${bb_stddev} AS DOUBLE)) OVER w AS bb_row,
        PREV_CLOSE(`close`, event_time)                                OVER w AS prev_close,
        NEWS_SENTIMENT(news_score, published_at, event_time, ${sentiment_lookback_seconds},
                       ${sentiment_half_life_seconds})                 OVER w AS news,
        BARS_SINCE_GAP(`close`, event_time, CAST(${gap_max_move} AS DOUBLE)) OVER w AS bars_since_gap,
        REPEATED_BAR(`close`, event_time)                              OVER w AS repeated
    FROM timeline
    WINDOW w AS (
        PARTITION BY symbol
        ORDER BY event_time
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
) AS t
WHERE `close` IS NOT NULL AND NOT repeated;
