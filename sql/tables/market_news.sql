-- market-news: one story per record (tradeflow.contracts.NewsItem, JSON), tagged with symbols.
-- published_at is the event-time attribute: a story counts for a bar only if published at or
-- before the bar's end.
CREATE TABLE market_news (
    id            STRING,
    symbols       ARRAY<STRING>,
    headline      STRING,
    summary       STRING,
    source        STRING,
    published_at  TIMESTAMP_LTZ(3),
    url           STRING,
    WATERMARK FOR published_at AS published_at - INTERVAL '${watermark_delay_seconds}' SECOND
) WITH (
${connector}
);
