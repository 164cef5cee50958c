-- market-news: one story per record (tradeflow.contracts.NewsItem, JSON), tagged with symbols.
-- A story counts for a bar only if published at or before the bar's end. Its event-time attribute
-- is timeline_time, one millisecond before publication: on a symbol's bar/news timeline
-- (timeline.sql) the story then comes strictly before a bar ending at the same millisecond, so
-- that bar counts it whatever order the two arrived in. The watermark allows stories to arrive
-- out of order by news_watermark_delay_seconds (strategy.toml): checks.sql sends a story later
-- than that to dead-letter. A story without published_at gets the epoch there (Flink stops at a
-- NULL event-time attribute), and checks.sql sends it to dead-letter too. A clock record (no
-- published_at, `clock` set: tradeflow.contracts.Clock) promises that every story up to `clock`
-- is published: the watermark moves to it at once (see stock_prices.sql).
CREATE TABLE market_news (
    id            STRING,
    symbols       ARRAY<STRING>,
    headline      STRING,
    summary       STRING,
    source        STRING,
    published_at  TIMESTAMP_LTZ(3),
    url           STRING,
    clock         TIMESTAMP_LTZ(3),
    timeline_time AS COALESCE(published_at - INTERVAL '0.001' SECOND, clock, TO_TIMESTAMP_LTZ(0, 3)),
    WATERMARK FOR timeline_time AS CASE
        WHEN published_at IS NULL AND clock IS NOT NULL THEN clock
        ELSE timeline_time - INTERVAL '1' SECOND * ${news_watermark_delay_seconds}
    END
) WITH (
${connector}
);
