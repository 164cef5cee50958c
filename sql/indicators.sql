-- Technical indicators per symbol, in event-time order, over the `prices` view
-- (symbol, event_time = bar END time as the rowtime attribute, open, high, low, close, volume).
-- `close` and `open` are reserved words in Flink SQL, hence the backquotes.
-- Needs the functions of functions.sql. Values equal TA-Lib's (talib.SMA/EMA/RSI/MACD/BBANDS) and
-- are NULL during each indicator's warm-up, so downstream rules never act on half-formed values.
--
-- Periods are placeholders filled from strategy.toml [indicators] by jobs/sql_loader.py.
-- The column names (sma_20, sma_50, ema_12, ema_26, rsi_14, ...) are the external contract: they
-- stay the same even when the periods behind them change.
--
-- Streaming: the OVER operator drops rows whose event_time <= the current watermark, so the
-- source's watermark must trail event_time (bars of several symbols share one timestamp).
-- MACD and BOLLINGER return ROWs; the outer SELECT flattens them into plain columns.
--
-- Every aggregate uses the one window `w`: Flink requires all OVER aggregates of a SELECT to share
-- a frame, and UNBOUNDED PRECEDING is cheap here because each function keeps only bounded state.
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
    t.bb_row.bb_lower       AS bb_lower
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
        BOLLINGER(`close`, ${bb_period}, CAST(${bb_stddev} AS DOUBLE)) OVER w AS bb_row
    FROM prices
    WINDOW w AS (
        PARTITION BY symbol
        ORDER BY event_time
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
) AS t;
