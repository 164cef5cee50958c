package io.tradeflow.udf;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * The result every single-value indicator (SMA, EMA, RSI, ATR) returns: {@code ROW<this_bar,
 * prev_bar>}, each NULL while undefined. A subclass keeps only its own maths: its accumulator
 * (a {@link ScalarAcc}), declared in its own {@code @FunctionHint(accumulator = ...)}, and an
 * {@code accumulate} that starts with {@link ScalarAcc#startBar} and calls
 * {@link ScalarAcc#setValue} from the bar on which TA-Lib returns a value. Flink reads function
 * hints along the class hierarchy, so the output type declared here holds for every subclass.
 */
@FunctionHint(output = @DataTypeHint(value = "ROW<this_bar DOUBLE, prev_bar DOUBLE>", bridgedTo = RowData.class))
public abstract class ScalarIndicator<A extends ScalarAcc> extends AggregateFunction<RowData, A> {

    @Override
    public RowData getValue(A acc) {
        return GenericRowData.of(acc.defined ? acc.value : null, acc.prevDefined ? acc.prevValue : null);
    }
}
