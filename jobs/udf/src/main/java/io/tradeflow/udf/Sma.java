package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;

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
@FunctionHint(accumulator = @DataTypeHint(value = "RAW", bridgedTo = Sma.Acc.class))
public class Sma extends ScalarIndicator<Sma.Acc> {

    public static class Acc extends ScalarAcc {
        public double[] ring;
        public double runningSum;
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer period) {
        if (acc.startBar(close, barTime, period, "SMA period")) {
            addClose(acc, close);
        }
    }

    /** Bollinger's middle band too, so that it equals the SMA of the same period bit for bit. */
    static void addClose(Acc acc, double x) {
        int n = acc.period;
        if (acc.ring == null) {
            acc.ring = new double[n];
        }
        acc.ring[(int) ((acc.count - 1) % n)] = x;
        acc.runningSum += x;
        if (acc.count >= n) {
            acc.setValue(acc.runningSum / n);
            // The slot after the newest holds the oldest close of the current window.
            acc.runningSum -= acc.ring[(int) (acc.count % n)];
        }
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }
}
