-- The job's JVM functions, implemented in Java (jobs/udf/src/main/java/io/tradeflow/udf/): the
-- aggregates of the indicator window, and SETUP for the rules (at the end).
-- The job needs build/tradeflow-udf.jar on its classpath (`pipeline.jars`); jobs.udf.ensure_udf_jar()
-- compiles it. They are JVM AggregateFunctions rather than Python UDAFs because Flink refuses
-- Python UDAFs in streaming OVER windows, and a JVM aggregate runs at plain-SQL speed.
-- Each keeps bounded state per symbol (a ring of the last N closes, or a recursive value plus a
-- warm-up counter) and returns NULL until TA-Lib would return a value. Rows with a NULL close (the
-- news rows of the timeline, whose high and low are NULL too) leave them unchanged.
--
-- Every bar function takes the bar's event_time after the close and skips a bar at or before the
-- last one it took: in the window's event-time order that is a repeat of a bar already counted.
-- Every indicator returns its value at the current bar and at the bar before (`prev...`), which the
-- crossing rules compare: one call and one state per indicator for both.

-- SMA(close, event_time, period) -> ROW<this_bar DOUBLE, prev_bar DOUBLE>
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS SMA AS 'io.tradeflow.udf.Sma' LANGUAGE JAVA;

-- EMA(close, event_time, period) -> ROW<this_bar DOUBLE, prev_bar DOUBLE>, seeded with the SMA of the first `period` closes
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS EMA AS 'io.tradeflow.udf.Ema' LANGUAGE JAVA;

-- RSI(close, event_time, period) -> ROW<this_bar DOUBLE, prev_bar DOUBLE> in [0, 100], Wilder smoothing
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS RSI AS 'io.tradeflow.udf.Rsi' LANGUAGE JAVA;

-- ATR(high, low, close, event_time, period) -> ROW<this_bar DOUBLE, prev_bar DOUBLE>: Average True
--   Range, Wilder smoothing; the bar's range in price units, which the exits of signals.sql can scale.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS ATR AS 'io.tradeflow.udf.Atr' LANGUAGE JAVA;

-- MACD(close, event_time, fast, slow, signal)
--   -> ROW<macd, macd_signal, macd_hist, prev_macd, prev_macd_signal, prev_macd_hist>
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS MACD AS 'io.tradeflow.udf.Macd' LANGUAGE JAVA;

-- BOLLINGER(close, event_time, period, stddevs DOUBLE)
--   -> ROW<bb_upper, bb_middle, bb_lower, prev_bb_upper, prev_bb_middle, prev_bb_lower>
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS BOLLINGER AS 'io.tradeflow.udf.Bollinger' LANGUAGE JAVA;

-- PREV_CLOSE(close, event_time) -> DOUBLE: the close of the bar before (NULL on a symbol's first bar).
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS PREV_CLOSE AS 'io.tradeflow.udf.PrevClose' LANGUAGE JAVA;

-- NEWS_SENTIMENT(score, published_at, event_time, lookback_seconds, half_life_seconds)
--   -> ROW<sentiment DOUBLE, news_count INT>: time-decayed mean score of the news published by
--   the bar's end (story rows carry score and published_at, bar rows only event_time).
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS NEWS_SENTIMENT AS 'io.tradeflow.udf.NewsSentiment' LANGUAGE JAVA;

-- BARS_SINCE_GAP(close, event_time, max_move) -> BIGINT: bars since the last close-to-close jump > max_move.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS BARS_SINCE_GAP AS 'io.tradeflow.udf.BarsSinceGap' LANGUAGE JAVA;

-- REPEATED_BAR(close, event_time) -> BOOLEAN: TRUE on a repeat of a bar already counted.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS REPEATED_BAR AS 'io.tradeflow.udf.RepeatedBar' LANGUAGE JAVA;

-- SETUP(condition BOOLEAN) -> INT: 1 when a rule's setup fires on the bar, else 0 (NULL: 0).
-- A scalar function, declared non-deterministic so that the planner computes each setup once per
-- bar instead of copying its expression into every rule that reads it (see Setup.java).
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS SETUP AS 'io.tradeflow.udf.Setup' LANGUAGE JAVA;
