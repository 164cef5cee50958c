-- What the job cannot use, and why: every source row with the reason it is refused, NULL for a
-- row the job takes. prices.sql and news_scores.sql take the rows without a reason, and
-- insert_dead_letter.sql sends the others to dead-letter: a bad record neither stops the job
-- nor disappears. The producers check every record before publishing; this is for any other
-- writer of the topics. (A record that is not JSON at all is skipped by Flink's JSON format
-- before it gets here.)
--
-- A late record (its event time at or before the watermark of its own topic when it arrives)
-- is refused here too. The indicator window drops rows at or before its own watermark, the lower
-- of the two topics' as it reaches the window after the record, so it drops no row that passed
-- this check, with one exception: a topic that was idle (quiet for `source_idle_timeout`) no longer holds that
-- watermark back, and a record it then brings older than the other topic's watermark is still
-- dropped there, unseen. Otherwise whether a record counts depends only on its own topic's
-- order, not on how far the other topic has been read. ${arrival_watermark} is the watermark
-- the record arrived under, CURRENT_WATERMARK(timeline_time); NULL in a bounded run, which has
-- no watermark and sorts everything (jobs/signal_job.py fills it in). Clock records only move
-- the watermark (tables/): they are neither used nor refused.
CREATE TEMPORARY VIEW checked_bars AS
SELECT *,
    CASE
        WHEN event_time IS NULL THEN 'bar has no event_time'
        WHEN symbol IS NULL THEN 'bar has no symbol'
        WHEN `close` IS NULL OR `close` <= 0 THEN 'bar has no positive close'
        WHEN high IS NULL OR low IS NULL OR high < low THEN 'bar high is below its low (or missing)'
        WHEN timeline_time <= ${arrival_watermark}
            THEN 'bar came after the watermark had passed its event_time'
    END AS refused
FROM stock_prices
WHERE event_time IS NOT NULL OR clock IS NULL;

CREATE TEMPORARY VIEW checked_news AS
SELECT *,
    CASE
        WHEN published_at IS NULL THEN 'story has no published_at'
        WHEN symbols IS NULL OR CARDINALITY(symbols) = 0 THEN 'story is tagged with no symbol'
        -- the contract's limits: the sentiment scorer's time grows faster than the text
        WHEN CHAR_LENGTH(headline) > 2000 THEN 'story headline is longer than 2000 characters'
        WHEN CHAR_LENGTH(summary) > 20000 THEN 'story summary is longer than 20000 characters'
        WHEN timeline_time <= ${arrival_watermark}
            THEN 'story came more than ${news_watermark_delay_seconds} s behind a newer story'
    END AS refused
FROM market_news
WHERE published_at IS NOT NULL OR clock IS NULL;
