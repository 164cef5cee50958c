-- The bars the indicators see: one per (symbol, event_time), the first that arrived.
-- Replays and producer restarts can deliver a bar twice; counting it twice would corrupt every
-- indicator. Deduplicating on arrival order keeps the stream append-only, and the state it needs
-- expires with table.exec.state.ttl.
CREATE TEMPORARY VIEW prices AS
SELECT symbol, event_time, `open`, high, low, `close`, volume
FROM (
    SELECT *,
           ROW_NUMBER() OVER (PARTITION BY symbol, event_time ORDER BY proc_time ASC) AS arrival
    FROM stock_prices
    WHERE `close` > 0 AND high >= low
)
WHERE arrival = 1;
