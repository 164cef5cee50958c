package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * RSI(close, event_time, period) with Wilder smoothing, as TA-Lib computes it.
 *
 * <p>Average gain and loss are seeded with the plain mean of the first {@code period}
 * close-to-close changes, so the first value appears on the (period+1)-th close (lookback
 * {@code period}); afterwards {@code avg = (avg * (period-1) + change) / period}. Like TA-Lib,
 * RSI is 0 (not NaN) when both averages are (nearly) zero, e.g. a run of identical pre-market
 * prints. State: previous close, the two averages and a counter.
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = Rsi.Acc.class),
        output = @DataTypeHint(value = "ROW<this_bar DOUBLE, prev_bar DOUBLE>", bridgedTo = RowData.class))
public class Rsi extends AggregateFunction<RowData, Rsi.Acc> {

    /** TA-Lib treats |x| below this as zero (its TA_IS_ZERO). */
    private static final double EPSILON = 1e-8;

    public static class Acc extends ScalarAcc {
        public int period;
        public long count;
        public double prevClose;
        public double avgGain;
        public double avgLoss;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer period) {
        if (!acc.takes(close, barTime)) {
            return;
        }
        int n = Periods.require(period, "RSI period");
        acc.beginBar(defined(acc));
        if (acc.period == 0) {
            acc.period = n;
        } else {
            Periods.sameAsBefore(acc.period, n, "RSI period");
        }
        double x = close;
        acc.count++;
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
                acc.value = rsi(acc);
            }
        } else {
            acc.avgLoss *= (n - 1);
            acc.avgGain *= (n - 1);
            addChange(acc, change);
            acc.avgLoss /= n;
            acc.avgGain /= n;
            acc.value = rsi(acc);
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
    public RowData getValue(Acc acc) {
        return acc.result(defined(acc));
    }

    private static boolean defined(Acc acc) {
        return acc.period > 0 && acc.count > acc.period;
    }
}
