package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;

/**
 * ATR(high, low, close, event_time, period): the Average True Range with Wilder smoothing, as
 * TA-Lib computes it ({@code talib.ATR}).
 *
 * <p>A bar's true range is the greatest of high - low, |previous close - high| and
 * |previous close - low| (in that order of comparison, TA-Lib's); the first bar has none. The
 * first ATR is the plain mean of the first {@code period} true ranges, summed in bar order and
 * divided by the period, so it appears on the (period+1)-th bar (lookback {@code period}, with
 * TA-Lib's default unstable period of 0); period 1 gives the true range itself. Afterwards
 * Wilder's {@code atr = (atr * (period-1) + tr) / period}.
 *
 * <p>That update is written as the TA-Lib the tests use computes it (the C library 0.8.1 of the
 * TA-Lib 0.8.2 wheel, read from its machine code), so that rounding matches {@code talib.ATR} to
 * the bit: {@code fma(atr, w, tr * (1 - w))} with {@code w = (period-1) / period}. That is its
 * FMA code path, the one it takes on any x86-64 CPU with FMA; its plain path, and TA-Lib's C
 * source as written, round differently in the last bit or two only.
 *
 * <p>State: previous close, the seed sum or running average, and a counter.
 */
@FunctionHint(accumulator = @DataTypeHint(value = "RAW", bridgedTo = Atr.Acc.class))
public class Atr extends ScalarIndicator<Atr.Acc> {

    public static class Acc extends ScalarAcc {
        public double prevClose;
        public double seedSum;
        /** Wilder's weight of the previous ATR, (period-1)/period, and of the new true range. */
        public double keep;
        public double take;
    }

    public void accumulate(Acc acc, Double high, Double low, Double close, Instant barTime, Integer period) {
        if (!acc.startBar(close, barTime, period, "ATR period")) {
            return;
        }
        if (high == null || low == null) {
            // checks.sql refuses such bars before the window; anything else is a bug upstream.
            throw new IllegalArgumentException("ATR needs the bar's high and low");
        }
        int n = acc.period;
        if (acc.count == 1) {
            acc.keep = (double) (n - 1) / (double) n;
            acc.take = 1.0 - acc.keep;
            acc.prevClose = close;
            return;
        }
        double tr = trueRange(high, low, acc.prevClose);
        acc.prevClose = close;
        if (acc.count <= n + 1) {
            acc.seedSum += tr;
            if (acc.count == n + 1) {
                acc.setValue(acc.seedSum / n);
            }
        } else {
            acc.setValue(Math.fma(acc.value, acc.keep, tr * acc.take));
        }
    }

    private static double trueRange(double high, double low, double prevClose) {
        double greatest = high - low;
        double toHigh = Math.abs(prevClose - high);
        if (toHigh > greatest) {
            greatest = toHigh;
        }
        double toLow = Math.abs(prevClose - low);
        if (toLow > greatest) {
            greatest = toLow;
        }
        return greatest;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }
}
