-- Every story checks.sql takes, scored once, then one row per symbol it is tagged with.
-- published_at is the moment the market could know the story; event_time orders it on the
-- timeline (see market_news.sql).
CREATE TEMPORARY VIEW news_scores AS
SELECT
    tagged.symbol,
    n.timeline_time AS event_time,
    n.published_at,
    SCORE_SENTIMENT(n.headline, n.summary, '${sentiment_scorer}') AS score
FROM checked_news AS n
CROSS JOIN UNNEST(n.symbols) AS tagged (symbol)
WHERE n.refused IS NULL;
