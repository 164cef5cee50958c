package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * EMA(close, event_time, period) as TA-Lib computes it: seeded with the SMA of the first
 * {@code period} closes (so NULL before that, lookback period-1), then
 * {@code ema += (close - ema) * k} with {@code k = 2 / (period + 1)}. The update is written in TA-Lib's operation order so that
 * rounding matches {@code talib.EMA}. State: the recursive value, a seed sum and a counter.
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = Ema.Acc.class),
        output = @DataTypeHint(value = "ROW<this_bar DOUBLE, prev_bar DOUBLE>", bridgedTo = RowData.class))
public class Ema extends AggregateFunction<RowData, Ema.Acc> {

    public static class Acc extends ScalarAcc {
        public int period;
        public long count;
        public double seedSum;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer period) {
        if (!acc.takes(close, barTime)) {
            return;
        }
        int n = Periods.require(period, "EMA period");
        acc.beginBar(defined(acc));
        if (acc.period == 0) {
            acc.period = n;
        } else {
            Periods.sameAsBefore(acc.period, n, "EMA period");
        }
        double x = close;
        acc.count++;
        if (acc.count < n) {
            acc.seedSum += x;
        } else if (acc.count == n) {
            acc.seedSum += x;
            acc.value = acc.seedSum / n;
        } else {
            acc.value = ((x - acc.value) * Periods.emaK(n)) + acc.value;
        }
    }

    @Override
    public RowData getValue(Acc acc) {
        return acc.result(defined(acc));
    }

    private static boolean defined(Acc acc) {
        return acc.period > 0 && acc.count >= acc.period;
    }
}
