-- Backtest: write every (deduplicated) bar with its indicators.
INSERT INTO indicator_rows
SELECT symbol, event_time, `close`, sma_20, sma_50, ema_12, ema_26, rsi_14, atr_14,
       macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower
FROM indicators;
