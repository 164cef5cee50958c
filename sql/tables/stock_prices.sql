-- stock-prices: one OHLCV bar per record (tradeflow.contracts.PriceBar, JSON).
-- event_time is the bar END (the moment the close is known), UTC. The event-time attribute is
-- timeline_time, the same instant; a record without an event_time gets the epoch there, since
-- Flink stops at a NULL event-time attribute: checks.sql sends such a bar to dead-letter.
-- The watermark trails the newest bar by ${watermark_delay_seconds} s, so bars that arrive a
-- little out of order are still put in order; checks.sql sends later ones to dead-letter.
-- (Written as a multiple of one second: a SECOND literal takes at most two digits.)
-- History (a bar more than ${history_age_seconds} s older than this machine's clock: a replay, a
-- backlog after downtime) moves the watermark a whole ${history_watermark_step} at a time. Every
-- watermark step makes the indicator window revisit each symbol's buffered rows: with a step per
-- bar, a backlog read at full speed took 5-15 % longer (`python -m benchmarks job`,
-- full_bar_watermarks). Live bars arrive a minute apart and keep a step each, so live signals
-- wait no longer than before.
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
    timeline_time AS COALESCE(event_time, TO_TIMESTAMP_LTZ(0, 3)),
    WATERMARK FOR timeline_time AS CASE
        WHEN timeline_time > CURRENT_TIMESTAMP - INTERVAL '1' SECOND * ${history_age_seconds}
            THEN timeline_time
        ELSE FLOOR(timeline_time TO ${history_watermark_step})
    END - INTERVAL '1' SECOND * ${watermark_delay_seconds}
) WITH (
${connector}
);
