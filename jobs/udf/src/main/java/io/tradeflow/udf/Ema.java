package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;

/**
 * EMA(close, event_time, period) as TA-Lib computes it: seeded with the SMA of the first
 * {@code period} closes (so NULL before that, lookback period-1), then
 * {@code ema += (close - ema) * k} with {@code k = 2 / (period + 1)}. The update is written in TA-Lib's operation order so that
 * rounding matches {@code talib.EMA}. State: the recursive value, a seed sum and a counter.
 */
@FunctionHint(accumulator = @DataTypeHint(value = "RAW", bridgedTo = Ema.Acc.class))
public class Ema extends ScalarIndicator<Ema.Acc> {

    public static class Acc extends ScalarAcc {
        public double seedSum;
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer period) {
        if (!acc.startBar(close, barTime, period, "EMA period")) {
            return;
        }
        double x = close;
        if (acc.count <= acc.period) {
            acc.seedSum += x;
            if (acc.count == acc.period) {
                acc.setValue(acc.seedSum / acc.period);
            }
        } else {
            acc.setValue(step(acc.value, x, acc.period));
        }
    }

    /** MACD's three lines are EMAs too, and must round as this one does. */
    static double step(double ema, double x, int period) {
        return ((x - ema) * Periods.emaK(period)) + ema;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }
}
