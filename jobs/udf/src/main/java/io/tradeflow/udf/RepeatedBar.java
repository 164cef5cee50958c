package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * REPEATED_BAR(close, event_time): TRUE on a bar whose event time an earlier bar of the window
 * already had, i.e. a duplicate that the other bar aggregates skip; FALSE on every first bar.
 * The view filters the repeats out, so each (symbol, event_time) yields one row, the first that
 * arrived. News rows (NULL close) give FALSE.
 */
@FunctionHint(accumulator = @DataTypeHint(value = "RAW", bridgedTo = RepeatedBar.Acc.class))
public class RepeatedBar extends AggregateFunction<Boolean, RepeatedBar.Acc> {

    public static class Acc extends BarAcc {
        public boolean repeated;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime) {
        acc.repeated = close != null && !acc.takes(close, barTime);
    }

    @Override
    public Boolean getValue(Acc acc) {
        return acc.repeated;
    }
}
