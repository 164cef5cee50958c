package io.tradeflow.udf;

import org.apache.flink.table.functions.AggregateFunction;

/**
 * EMA(close, period) as TA-Lib computes it: seeded with the SMA of the first {@code period}
 * closes (so NULL before that, lookback period-1), then {@code ema += (close - ema) * k} with
 * {@code k = 2 / (period + 1)}. The update is written in TA-Lib's operation order so that
 * rounding matches {@code talib.EMA}. State: the recursive value, a seed sum and a counter.
 */
public class Ema extends AggregateFunction<Double, Ema.Acc> {

    public static class Acc {
        public int period;
        public long count;
        public double seedSum;
        public double value;
        // The value at the previous bar, for bars_ago = 1.
        public int barsAgo;
        public boolean prevDefined;
        public double prevValue;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Integer period) {
        accumulate(acc, close, period, 0);
    }

    public void accumulate(Acc acc, Double close, Integer period, Integer barsAgo) {
        if (close == null) {
            return;
        }
        int n = Periods.require(period, "EMA period");
        acc.barsAgo = Periods.barsAgo(barsAgo);
        acc.prevDefined = defined(acc);
        acc.prevValue = acc.value;
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
    public Double getValue(Acc acc) {
        if (acc.barsAgo == 1) {
            return acc.prevDefined ? acc.prevValue : null;
        }
        return defined(acc) ? acc.value : null;
    }

    private static boolean defined(Acc acc) {
        return acc.period > 0 && acc.count >= acc.period;
    }
}
