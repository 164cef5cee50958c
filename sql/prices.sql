-- The bars the indicators see: positive closes and sane ranges only (the producers dead-letter
-- malformed bars before they reach the topic; this keeps a bad bar from another writer out).
-- A bar delivered twice (a replay, a producer retry) is counted once, the first to arrive: the
-- indicator window (indicators.sql) skips and drops the repeats, which needs no state beyond the
-- window's own.
CREATE TEMPORARY VIEW prices AS
SELECT symbol, event_time, `open`, high, low, `close`, volume
FROM stock_prices
WHERE `close` > 0 AND high >= low;
