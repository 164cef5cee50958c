package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
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

    /** An SMA's state, whose value is the middle band, plus the deviation of the same closes. */
    public static class Acc extends Sma.Acc {
        public double stddev;
        public double prevStddev;
        public double nbdev;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Integer period, Double nbdev) {
        if (!acc.startBar(close, barTime, period, "Bollinger period")) {
            return;
        }
        if (nbdev == null || nbdev.isNaN() || nbdev < 0) {
            throw new IllegalArgumentException("Bollinger stddev multiplier must be >= 0, got " + nbdev);
        }
        acc.prevStddev = acc.stddev;
        acc.nbdev = nbdev;
        Sma.addClose(acc, close);
        if (acc.defined) {
            // The slot after the newest holds the oldest close of the window.
            acc.stddev = populationStddev(acc.ring, (int) (acc.count % acc.period));
        }
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
        return Rows.thisAndPrevBar(
                acc.defined, bands(acc.value, acc.stddev * acc.nbdev),
                acc.prevDefined, bands(acc.prevValue, acc.prevStddev * acc.nbdev));
    }

    private static double[] bands(double middle, double width) {
        return new double[] {middle + width, middle, middle - width};
    }
}
