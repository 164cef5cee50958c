-- Functions the sentiment join and the signal rules use (indicator functions: functions.sql).

-- NEWS_SENTIMENT(score, event_time, lookback_seconds, half_life_seconds)
--   -> ROW<sentiment DOUBLE, news_count INT>: time-decayed mean score of the news seen so far.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS NEWS_SENTIMENT AS 'io.tradeflow.udf.NewsSentiment' LANGUAGE JAVA;

-- BARS_SINCE_GAP(close, max_move) -> BIGINT: bars since the last close-to-close jump > max_move.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS BARS_SINCE_GAP AS 'io.tradeflow.udf.BarsSinceGap' LANGUAGE JAVA;

-- SCORE_SENTIMENT(headline, summary, scorer) -> DOUBLE in [-1, 1]: tradeflow.sentiment, in Python.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS SCORE_SENTIMENT AS 'jobs.udfs.score_sentiment' LANGUAGE PYTHON;
