package io.tradeflow.udf;

/**
 * The accumulator fields every single-value indicator (SMA, EMA, RSI) shares: its current value
 * and, for {@code bars_ago = 1}, the value it had at the previous bar. Subclasses add their own
 * state.
 */
public class ScalarAcc extends BarAcc {
    public double value;
    public int barsAgo;
    public boolean prevDefined;
    public double prevValue;

    /** Called with each new close, before it changes {@link #value}. */
    void beginBar(Integer barsAgo, boolean defined) {
        this.barsAgo = Periods.barsAgo(barsAgo);
        this.prevDefined = defined;
        this.prevValue = value;
    }

    /** The function's result: the current or the previous bar's value, NULL while undefined. */
    Double result(boolean defined) {
        if (barsAgo == 1) {
            return prevDefined ? prevValue : null;
        }
        return defined ? value : null;
    }
}
