package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * SMA(close, event_time, period): simple moving average of the last {@code period} closes, NULL
 * until {@code period} closes have been seen (TA-Lib lookback period-1).
 *
 * <p>Meant for {@code OVER (PARTITION BY symbol ORDER BY event_time ROWS BETWEEN UNBOUNDED
 * PRECEDING AND CURRENT ROW)}: state is a ring of the last {@code period} closes plus a running
 * sum, so it stays bounded however long the partition grows. The running sum is updated in
 * exactly TA-Lib's order (add the new close, divide, then drop the oldest) so results agree with
 * {@code talib.SMA} to the last bit rather than drifting apart over a long series.
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = Sma.Acc.class),
        output = @DataTypeHint(value = "ROW<this_bar DOUBLE, prev_bar DOUBLE>", bridgedTo = RowData.class))
public class Sma extends AggregateFunction<RowData, Sma.Acc> {

    public static class Acc extends ScalarAcc {
        public double[] ring;
        public long count;
        public double runningSum;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer period) {
        if (!acc.takes(close, barTime)) {
            return; // a news row of the timeline, or a repeated bar
        }
        int n = Periods.require(period, "SMA period");
        acc.beginBar(defined(acc));
        if (acc.ring == null) {
            acc.ring = new double[n];
        } else {
            Periods.sameAsBefore(acc.ring.length, n, "SMA period");
        }
        double x = close;
        acc.ring[(int) (acc.count % n)] = x;
        acc.count++;
        acc.runningSum += x;
        if (acc.count >= n) {
            acc.value = acc.runningSum / n;
            // The slot after the newest holds the oldest close of the current window.
            acc.runningSum -= acc.ring[(int) (acc.count % n)];
        }
    }

    @Override
    public RowData getValue(Acc acc) {
        return acc.result(defined(acc));
    }

    private static boolean defined(Acc acc) {
        return acc.ring != null && acc.count >= acc.ring.length;
    }
}
