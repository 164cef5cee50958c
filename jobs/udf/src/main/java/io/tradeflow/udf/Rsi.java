package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;

/**
 * RSI(close, event_time, period) with Wilder smoothing, as TA-Lib computes it.
 *
 * <p>Average gain and loss are seeded with the plain mean of the first {@code period}
 * close-to-close changes, so the first value appears on the (period+1)-th close (lookback
 * {@code period}); afterwards {@code avg = (avg * (period-1) + change) / period}. Like TA-Lib,
 * RSI is 0 (not NaN) when both averages are (nearly) zero, e.g. a run of identical pre-market
 * prints. State: previous close, the two averages and a counter.
 */
@FunctionHint(accumulator = @DataTypeHint(value = "RAW", bridgedTo = Rsi.Acc.class))
public class Rsi extends ScalarIndicator<Rsi.Acc> {

    /** TA-Lib treats |x| below this as zero (its TA_IS_ZERO). */
    private static final double EPSILON = 1e-8;

    public static class Acc extends ScalarAcc {
        public double prevClose;
        public double avgGain;
        public double avgLoss;
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer period) {
        if (!acc.startBar(close, barTime, period, "RSI period")) {
            return;
        }
        int n = acc.period;
        double x = close;
        if (acc.count == 1) {
            acc.prevClose = x;
            return;
        }
        double change = x - acc.prevClose;
        acc.prevClose = x;
        if (acc.count <= n + 1) {
            addChange(acc, change);
            if (acc.count == n + 1) {
                acc.avgLoss /= n;
                acc.avgGain /= n;
                acc.setValue(rsi(acc));
            }
        } else {
            acc.avgLoss *= (n - 1);
            acc.avgGain *= (n - 1);
            addChange(acc, change);
            acc.avgLoss /= n;
            acc.avgGain /= n;
            acc.setValue(rsi(acc));
        }
    }

    private static void addChange(Acc acc, double change) {
        if (change < 0) {
            acc.avgLoss -= change;
        } else {
            acc.avgGain += change;
        }
    }

    private static double rsi(Acc acc) {
        double total = acc.avgGain + acc.avgLoss;
        return (-EPSILON < total && total < EPSILON) ? 0.0 : 100.0 * (acc.avgGain / total);
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }
}
