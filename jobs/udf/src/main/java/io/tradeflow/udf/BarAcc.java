package io.tradeflow.udf;

import java.time.Instant;

/**
 * What every bar aggregate's accumulator shares: the event time of the last bar it took, so that
 * a bar delivered twice (a replay, a producer retry) is counted once. The job's OVER window runs
 * in event-time order, so a bar at or before the last one taken can only be such a repeat; the
 * first to arrive wins. Subclasses add their own state.
 *
 * <p>Every function declares its accumulator {@code RAW}: Flink then keeps the Java object itself
 * in the window's state and serializes it (with Kryo) only for checkpoints. As a structured type
 * it would be converted field by field, arrays included, to and from Flink's row format on every
 * row, for each of the window's functions: in a profile of the job benchmark, the largest cost
 * in the window after Flink's own timer bookkeeping. For the same reason the functions that
 * return a ROW declare it {@code bridgedTo = RowData.class} and build Flink's internal row
 * themselves, which Flink passes on as it is instead of converting a {@code Row} on every call.
 */
public class BarAcc {
    public long lastBarMillis = Long.MIN_VALUE;

    /**
     * Whether this row is a new bar to accumulate: false for a news row of the timeline (NULL
     * close) and for a repeat of a bar already taken. Records the bar when it is new.
     */
    boolean takes(Double close, Instant barTime) {
        if (close == null) {
            return false;
        }
        if (barTime == null) {
            throw new IllegalArgumentException("a bar needs its event time");
        }
        long t = barTime.toEpochMilli();
        if (t <= lastBarMillis) {
            return false;
        }
        lastBarMillis = t;
        return true;
    }
}
