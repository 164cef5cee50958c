-- Indicator aggregate functions, implemented in Java (jobs/udf/src/main/java/io/tradeflow/udf/).
-- The job needs build/tradeflow-udf.jar on its classpath (`pipeline.jars`); jobs.udf.ensure_udf_jar()
-- compiles it. They are JVM AggregateFunctions rather than Python UDAFs because Flink refuses
-- Python UDAFs in streaming OVER windows, and a JVM aggregate runs at plain-SQL speed.
-- Each keeps bounded state per symbol (a ring of the last N closes, or a recursive value plus a
-- warm-up counter) and returns NULL until TA-Lib would return a value.

-- SMA(close, period) -> DOUBLE
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS SMA AS 'io.tradeflow.udf.Sma' LANGUAGE JAVA;

-- EMA(close, period) -> DOUBLE, seeded with the SMA of the first `period` closes
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS EMA AS 'io.tradeflow.udf.Ema' LANGUAGE JAVA;

-- RSI(close, period) -> DOUBLE in [0, 100], Wilder smoothing
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS RSI AS 'io.tradeflow.udf.Rsi' LANGUAGE JAVA;

-- MACD(close, fast, slow, signal) -> ROW<macd, macd_signal, macd_hist>
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS MACD AS 'io.tradeflow.udf.Macd' LANGUAGE JAVA;

-- BOLLINGER(close, period, stddevs DOUBLE) -> ROW<bb_upper, bb_middle, bb_lower>
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS BOLLINGER AS 'io.tradeflow.udf.Bollinger' LANGUAGE JAVA;
