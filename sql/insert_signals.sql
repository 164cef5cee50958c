-- Write the signals to the trading-signals topic.
INSERT INTO trading_signals SELECT * FROM signals;
