-- stock-prices: one OHLCV bar per record (tradeflow.contracts.PriceBar, JSON).
-- event_time is the bar END (the moment the close is known), UTC, and the event-time attribute.
-- The watermark trails the newest bar by ${watermark_delay_seconds} s, so bars that arrive a
-- little out of order are still put in order; later ones are dropped by the OVER windows.
-- (Written as a multiple of one second: a SECOND literal takes at most two digits.)
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
    WATERMARK FOR event_time AS event_time - INTERVAL '1' SECOND * ${watermark_delay_seconds}
) WITH (
${connector}
);
