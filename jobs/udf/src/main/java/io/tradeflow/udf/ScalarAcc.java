package io.tradeflow.udf;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;

/**
 * The accumulator fields every single-value indicator (SMA, EMA, RSI) shares: its value at the
 * current bar and at the bar before, which a crossing rule compares. Subclasses add their own
 * state.
 */
public class ScalarAcc extends BarAcc {
    public double value;
    public boolean prevDefined;
    public double prevValue;

    /** Called with each new close, before it changes {@link #value}. */
    void beginBar(boolean defined) {
        this.prevDefined = defined;
        this.prevValue = value;
    }

    /** The function's result, {@code ROW<this_bar, prev_bar>}: each NULL while undefined. */
    RowData result(boolean defined) {
        return GenericRowData.of(defined ? value : null, prevDefined ? prevValue : null);
    }
}
