-- stock-prices: one OHLCV bar per record (tradeflow.contracts.PriceBar, JSON).
-- event_time is the bar END (the moment the close is known), UTC. The event-time attribute is
-- timeline_time, the same instant; a record without an event_time gets the epoch there, since
-- Flink stops at a NULL event-time attribute: checks.sql sends such a bar to dead-letter.
-- A clock record (tradeflow.contracts.Clock: `clock` set, no event_time) is a producer's promise
-- that every bar up to `clock` is published: the watermark moves to it at once, so a bar is
-- signalled as soon as it ends, not when the next bar arrives, and a replay that ends releases
-- its last bars. checks.sql keeps clocks away from the indicators.
-- Without a clock the watermark trails the newest bar by ${watermark_delay_seconds} s, so bars
-- that arrive a little out of order are still put in order; checks.sql sends later ones to
-- dead-letter. (Written as a multiple of one second: a SECOND literal takes at most two digits.)
-- History (a bar more than ${history_age_seconds} s older than this machine's clock: a replay, a
-- backlog after downtime) moves the watermark a whole ${history_watermark_step} at a time: every
-- watermark step makes the indicator window revisit each symbol's buffered rows, so a backlog
-- read at full speed would pay that once per bar (`python -m benchmarks job`,
-- full_bar_watermarks).
-- The WITH clause comes from sql/connectors/<backend>/, so every backend shares these columns.
CREATE TABLE stock_prices (
    symbol      STRING,
    event_time  TIMESTAMP_LTZ(3),
    `open`      DOUBLE,
    high        DOUBLE,
    low         DOUBLE,
    `close`     DOUBLE,
    volume      DOUBLE,
    source      STRING,
    clock       TIMESTAMP_LTZ(3),
    timeline_time AS COALESCE(event_time, clock, TO_TIMESTAMP_LTZ(0, 3)),
    WATERMARK FOR timeline_time AS CASE
        WHEN event_time IS NULL AND clock IS NOT NULL THEN clock
        WHEN timeline_time > CURRENT_TIMESTAMP - INTERVAL '1' SECOND * ${history_age_seconds}
            THEN timeline_time - INTERVAL '1' SECOND * ${watermark_delay_seconds}
        ELSE FLOOR(timeline_time TO ${history_watermark_step})
            - INTERVAL '1' SECOND * ${watermark_delay_seconds}
    END
) WITH (
${connector}
);
