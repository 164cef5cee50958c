-- The bars the indicators see: those checks.sql takes (the others go to dead-letter), on the
-- event-time attribute under the name the rest of the SQL uses.
-- A bar delivered twice (a replay, a producer retry) is counted once, the first to arrive: the
-- indicator window (indicators.sql) skips and drops the repeats, which needs no state beyond the
-- window's own.
CREATE TEMPORARY VIEW prices AS
SELECT symbol, timeline_time AS event_time, `open`, high, low, `close`, volume
FROM checked_bars
WHERE refused IS NULL;
