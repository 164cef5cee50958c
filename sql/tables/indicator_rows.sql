-- Backtest output: every bar's indicators (DIR/indicators.jsonl). NULL during warm-up.
CREATE TABLE indicator_rows (
    symbol       STRING,
    `timestamp`  TIMESTAMP_LTZ(3),
    `close`      DOUBLE,
    sma_20       DOUBLE,
    sma_50       DOUBLE,
    ema_12       DOUBLE,
    ema_26       DOUBLE,
    rsi_14       DOUBLE,
    atr_14       DOUBLE,
    macd         DOUBLE,
    macd_signal  DOUBLE,
    macd_hist    DOUBLE,
    bb_upper     DOUBLE,
    bb_middle    DOUBLE,
    bb_lower     DOUBLE
) WITH (
${connector}
);
