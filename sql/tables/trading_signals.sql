-- trading-signals: what the job emits (tradeflow.contracts.TradingSignal, JSON).
CREATE TABLE trading_signals (
    v                 INT,
    signal_id         STRING,
    symbol            STRING,
    action            STRING,
    strength          STRING,
    confidence        DOUBLE,
    price             DOUBLE,
    bar_time          TIMESTAMP_LTZ(3),
    emitted_at        TIMESTAMP_LTZ(3),
    indicators        MAP<STRING, DOUBLE>,
    sentiment         DOUBLE,
    reason            STRING,
    strategy          STRING,
    strategy_version  STRING,
    stop_loss         DOUBLE,
    take_profit       DOUBLE,
    horizon_bars      INT
) WITH (
${connector}
);
