-- Each bar with its indicators and the news sentiment known at the bar's end.
--
-- Bars and scored news of a symbol are merged into one timeline ordered by event time. An OVER
-- window with RANGE semantics feeds NEWS_SENTIMENT every row up to and including the current
-- timestamp, so a bar sees the news published at or before its end and nothing after it (no
-- look-ahead). Stories older than the look-back fall out of the state, which keeps it bounded.
-- The same window counts bars since the last price gap (a split looks like a crash).
CREATE TEMPORARY VIEW timeline AS
SELECT symbol, event_time, TRUE AS is_bar, `close`,
       sma_20, sma_50, ema_12, ema_26, rsi_14, macd, macd_signal, macd_hist,
       bb_upper, bb_middle, bb_lower,
       CAST(NULL AS DOUBLE) AS news_score
FROM indicators
UNION ALL
SELECT symbol, event_time, FALSE AS is_bar, CAST(NULL AS DOUBLE) AS `close`,
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
       score AS news_score
FROM news_scores;

CREATE TEMPORARY VIEW bars_with_sentiment AS
SELECT symbol, event_time, `close`,
       sma_20, sma_50, ema_12, ema_26, rsi_14, macd, macd_signal, macd_hist,
       bb_upper, bb_middle, bb_lower,
       news.sentiment AS sentiment,
       news.news_count AS news_count,
       bars_since_gap
FROM (
    SELECT *,
           NEWS_SENTIMENT(news_score, event_time, ${sentiment_lookback_seconds},
                          ${sentiment_half_life_seconds}) OVER w AS news,
           BARS_SINCE_GAP(CASE WHEN is_bar THEN `close` END, CAST(${gap_max_move} AS DOUBLE)) OVER w
               AS bars_since_gap
    FROM timeline
    WINDOW w AS (
        PARTITION BY symbol
        ORDER BY event_time
        RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
)
WHERE is_bar;
