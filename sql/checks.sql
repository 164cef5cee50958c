-- What the job cannot use, and why: every source row with the reason it is refused, NULL for a
-- row the job takes. prices.sql and news_scores.sql take the rows without a reason, and
-- insert_dead_letter.sql sends the others to dead-letter: a bad record neither stops the job
-- nor disappears. The producers check every record before publishing; this is for any other
-- writer of the topics. (A record that is not JSON at all is skipped by Flink's JSON format
-- before it gets here.)
CREATE TEMPORARY VIEW checked_bars AS
SELECT *,
    CASE
        WHEN event_time IS NULL THEN 'bar has no event_time'
        WHEN symbol IS NULL THEN 'bar has no symbol'
        WHEN `close` IS NULL OR `close` <= 0 THEN 'bar has no positive close'
        WHEN high IS NULL OR low IS NULL OR high < low THEN 'bar high is below its low (or missing)'
    END AS refused
FROM stock_prices;

CREATE TEMPORARY VIEW checked_news AS
SELECT *,
    CASE
        WHEN published_at IS NULL THEN 'story has no published_at'
        WHEN symbols IS NULL OR CARDINALITY(symbols) = 0 THEN 'story is tagged with no symbol'
    END AS refused
FROM market_news;
