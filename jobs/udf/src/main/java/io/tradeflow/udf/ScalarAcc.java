package io.tradeflow.udf;

import java.time.Instant;

/**
 * The state every single-value indicator (SMA, EMA, RSI, ATR, and Bollinger's middle band)
 * shares: its period, the bars it has counted, and its value at the current bar and at the bar
 * before, which a crossing rule compares. Subclasses add the state of their own maths.
 */
public class ScalarAcc extends BarAcc {
    public int period;
    public long count;
    /** False until the indicator has seen enough bars for TA-Lib to return a value. */
    public boolean defined;
    public double value;
    public boolean prevDefined;
    public double prevValue;

    /**
     * Whether this row is a new bar to accumulate (see {@link #takes}). If it is, the value of
     * the bar before is kept first, since the update about to run replaces it, and the bar is
     * counted: the indicator's update sees {@link #count} 1 on the first bar.
     */
    boolean startBar(Double close, Instant barTime, Integer period, String what) {
        if (!takes(close, barTime)) {
            return false;
        }
        int n = Periods.require(period, what);
        prevDefined = defined;
        prevValue = value;
        if (this.period == 0) {
            this.period = n;
        } else {
            Periods.sameAsBefore(this.period, n, what);
        }
        count++;
        return true;
    }

    void setValue(double v) {
        value = v;
        defined = true;
    }
}
