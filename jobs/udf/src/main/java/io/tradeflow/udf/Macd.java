package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * MACD(close, event_time, fast, slow, signal) as {@code talib.MACD} computes it, returned as
 * {@code ROW<macd, macd_signal, macd_hist, prev_macd, prev_macd_signal, prev_macd_hist>}: the
 * values at the current bar and at the bar before.
 *
 * <p>TA-Lib specifics reproduced here (checked against talib 0.8.2):
 * <ul>
 *   <li>The slow EMA is a normal EMA (seeded with the SMA of closes 0..slow-1).</li>
 *   <li>The fast EMA is seeded so that it starts on the same bar as the slow one: with the SMA of
 *       closes slow-fast..slow-1, not of the first {@code fast} closes. Hence its values differ
 *       from a standalone EMA(fast) (and macd differs from ema_12 - ema_26) for a while.</li>
 *   <li>The signal line is an EMA(signal) of the macd line, seeded with the mean of its first
 *       {@code signal} values.</li>
 *   <li>All three outputs, the macd line included, are NULL before bar slow-1+signal-1 (33 for
 *       12/26/9), although the line itself could be computed from bar slow-1.</li>
 *   <li>If slow &lt; fast the two are swapped, as TA-Lib does.</li>
 * </ul>
 * State: three recursive values, two seed sums and a counter.
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = Macd.Acc.class),
        output = @DataTypeHint(value = "ROW<macd DOUBLE, macd_signal DOUBLE, macd_hist DOUBLE, "
                + "prev_macd DOUBLE, prev_macd_signal DOUBLE, prev_macd_hist DOUBLE>", bridgedTo = RowData.class))
public class Macd extends AggregateFunction<RowData, Macd.Acc> {

    public static class Acc extends BarAcc {
        public int fast;
        public int slow;
        public int signal;
        public long count;
        public double slowSeed;
        public double fastSeed;
        public double signalSeed;
        public double slowEma;
        public double fastEma;
        public double signalEma;
        public double line;
        // The values at the previous bar.
        public boolean prevDefined;
        public double prevLine;
        public double prevSignalEma;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer fast, Integer slow,
                           Integer signal) {
        if (!acc.takes(close, barTime)) {
            return;
        }
        acc.prevDefined = defined(acc);
        acc.prevLine = acc.line;
        acc.prevSignalEma = acc.signalEma;
        int f = Periods.require(fast, "MACD fast period");
        int s = Periods.require(slow, "MACD slow period");
        int g = Periods.require(signal, "MACD signal period");
        if (s < f) {
            int t = s;
            s = f;
            f = t;
        }
        if (acc.slow == 0) {
            acc.fast = f;
            acc.slow = s;
            acc.signal = g;
        } else {
            Periods.sameAsBefore(acc.fast, f, "MACD fast period");
            Periods.sameAsBefore(acc.slow, s, "MACD slow period");
            Periods.sameAsBefore(acc.signal, g, "MACD signal period");
        }
        double x = close;
        long i = acc.count++; // 0-based index of this close within the partition

        if (i < s - 1) {
            acc.slowSeed += x;
            if (i >= s - f) {
                acc.fastSeed += x;
            }
            return;
        }
        if (i == s - 1) {
            acc.slowSeed += x;
            acc.fastSeed += x;
            acc.slowEma = acc.slowSeed / s;
            acc.fastEma = acc.fastSeed / f;
        } else {
            acc.slowEma = Ema.step(acc.slowEma, x, s);
            acc.fastEma = Ema.step(acc.fastEma, x, f);
        }
        acc.line = acc.fastEma - acc.slowEma;

        long j = i - (s - 1); // 0-based index within the macd line
        if (j < g - 1) {
            acc.signalSeed += acc.line;
        } else if (j == g - 1) {
            acc.signalSeed += acc.line;
            acc.signalEma = acc.signalSeed / g;
        } else {
            acc.signalEma = Ema.step(acc.signalEma, acc.line, g);
        }
    }

    @Override
    public RowData getValue(Acc acc) {
        return Rows.thisAndPrevBar(
                defined(acc), lines(acc.line, acc.signalEma),
                acc.prevDefined, lines(acc.prevLine, acc.prevSignalEma));
    }

    /** macd, signal, histogram. */
    private static double[] lines(double macd, double signal) {
        return new double[] {macd, signal, macd - signal};
    }

    private static boolean defined(Acc acc) {
        return acc.slow > 0 && acc.count >= (long) acc.slow + acc.signal - 1;
    }
}
