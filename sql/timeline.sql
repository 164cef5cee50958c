-- Bars and scored news of each symbol merged into one timeline, ordered later by event time:
-- the bar's end for a bar, just before the publication time for a story. indicators.sql runs its
-- one OVER window over this timeline. A bar row has its high, low and close and no news score or
-- publication time; a news row the reverse, and every indicator function skips rows whose close
-- is NULL. (High and low are there for ATR, the only indicator that reads more than the close.)
CREATE TEMPORARY VIEW timeline AS
SELECT symbol, event_time, high, low, `close`, CAST(NULL AS DOUBLE) AS news_score,
       CAST(NULL AS TIMESTAMP_LTZ(3)) AS published_at
FROM prices
UNION ALL
SELECT symbol, event_time, CAST(NULL AS DOUBLE) AS high, CAST(NULL AS DOUBLE) AS low,
       CAST(NULL AS DOUBLE) AS `close`, score AS news_score, published_at
FROM news_scores;
