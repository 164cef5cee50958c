package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * BOLLINGER(close, event_time, period, nbdev): the bands as
 * {@code talib.BBANDS(close, period, nbdev, nbdev, matype=SMA)} computes them, returned as
 * {@code ROW<bb_upper, bb_middle, bb_lower, prev_bb_upper, prev_bb_middle, prev_bb_lower>}: at the
 * current bar and at the bar before.
 *
 * <p>middle = SMA(period) (same running sum as {@link Sma}, so it equals sma_20 bit for bit when
 * the periods match); upper/lower = middle +/- nbdev * population standard deviation of the same
 * {@code period} closes. The deviation is computed in two passes over the ring, which is what the
 * TA-Lib C library bundled with talib 0.8.x agrees with (to ~1e-14); the one-pass
 * E[x^2] - mean^2 shortcut of older TA-Lib releases differs by up to 2e-9 relative on prices near
 * 600 and would fail the 1e-9 comparison. NULL before {@code period} closes (lookback period-1).
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = Bollinger.Acc.class),
        output = @DataTypeHint(value = "ROW<bb_upper DOUBLE, bb_middle DOUBLE, bb_lower DOUBLE, "
                + "prev_bb_upper DOUBLE, prev_bb_middle DOUBLE, prev_bb_lower DOUBLE>", bridgedTo = RowData.class))
public class Bollinger extends AggregateFunction<RowData, Bollinger.Acc> {

    public static class Acc extends BarAcc {
        public double[] ring;
        public long count;
        public double runningSum;
        public double middle;
        public double stddev;
        public double nbdev;
        // The bands at the previous bar.
        public boolean prevDefined;
        public double prevMiddle;
        public double prevStddev;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer period, Double nbdev) {
        if (!acc.takes(close, barTime)) {
            return;
        }
        acc.prevDefined = defined(acc);
        acc.prevMiddle = acc.middle;
        acc.prevStddev = acc.stddev;
        int n = Periods.require(period, "Bollinger period");
        if (nbdev == null || nbdev.isNaN() || nbdev < 0) {
            throw new IllegalArgumentException("Bollinger stddev multiplier must be >= 0, got " + nbdev);
        }
        if (acc.ring == null) {
            acc.ring = new double[n];
        } else {
            Periods.sameAsBefore(acc.ring.length, n, "Bollinger period");
        }
        acc.nbdev = nbdev;
        double x = close;
        acc.ring[(int) (acc.count % n)] = x;
        acc.count++;
        acc.runningSum += x;
        if (acc.count < n) {
            return;
        }
        acc.middle = acc.runningSum / n;
        int oldest = (int) (acc.count % n);
        acc.stddev = populationStddev(acc.ring, oldest);
        acc.runningSum -= acc.ring[oldest];
    }

    /**
     * Two passes over the window, on distances from its oldest close. Measuring from a member of
     * the window (not from the running-sum middle, which can sit an ulp off) makes a flat window's
     * deviation exactly 0, as in TA-Lib, and keeps full precision for prices far from zero.
     */
    private static double populationStddev(double[] ring, int oldest) {
        int n = ring.length;
        double origin = ring[oldest];
        double shiftSum = 0.0;
        for (int k = 0; k < n; k++) {
            shiftSum += ring[(oldest + k) % n] - origin;
        }
        double shiftMean = shiftSum / n;
        double squares = 0.0;
        for (int k = 0; k < n; k++) {
            double d = (ring[(oldest + k) % n] - origin) - shiftMean;
            squares += d * d;
        }
        return Math.sqrt(squares / n);
    }

    @Override
    public RowData getValue(Acc acc) {
        boolean now = defined(acc);
        boolean prev = acc.prevDefined;
        double width = acc.stddev * acc.nbdev;
        double prevWidth = acc.prevStddev * acc.nbdev;
        return GenericRowData.of(
                now ? acc.middle + width : null,
                now ? acc.middle : null,
                now ? acc.middle - width : null,
                prev ? acc.prevMiddle + prevWidth : null,
                prev ? acc.prevMiddle : null,
                prev ? acc.prevMiddle - prevWidth : null);
    }

    private static boolean defined(Acc acc) {
        return acc.ring != null && acc.count >= acc.ring.length;
    }
}
