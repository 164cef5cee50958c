-- market-news: one story per record (tradeflow.contracts.NewsItem, JSON), tagged with symbols.
-- A story counts for a bar only if published at or before the bar's end. Its event-time attribute
-- is timeline_time, one millisecond before publication: on a symbol's bar/news timeline
-- (timeline.sql) the story then comes strictly before a bar ending at the same millisecond, so
-- that bar counts it whatever order the two arrived in. The watermark allows stories to arrive
-- out of order by news_watermark_delay_seconds (strategy.toml): checks.sql sends a story later
-- than that to dead-letter. A story without published_at gets the epoch there (Flink stops at a
-- NULL event-time attribute), and checks.sql sends it to dead-letter too.
CREATE TABLE market_news (
    id            STRING,
    symbols       ARRAY<STRING>,
    headline      STRING,
    summary       STRING,
    source        STRING,
    published_at  TIMESTAMP_LTZ(3),
    url           STRING,
    timeline_time AS COALESCE(published_at, TO_TIMESTAMP_LTZ(0, 3)) - INTERVAL '0.001' SECOND,
    WATERMARK FOR timeline_time AS timeline_time - INTERVAL '1' SECOND * ${news_watermark_delay_seconds}
) WITH (
${connector}
);
