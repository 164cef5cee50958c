-- Every story scored once, then one row per symbol it is tagged with.
-- event_time is when the story was published: the moment the market could know it.
CREATE TEMPORARY VIEW news_scores AS
SELECT
    tagged.symbol,
    n.published_at AS event_time,
    SCORE_SENTIMENT(n.headline, n.summary, '${sentiment_scorer}') AS score
FROM market_news AS n
CROSS JOIN UNNEST(n.symbols) AS tagged (symbol);
