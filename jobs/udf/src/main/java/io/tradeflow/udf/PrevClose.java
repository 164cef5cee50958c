package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * PREV_CLOSE(close, event_time): the close of the bar before the current one, NULL on a symbol's
 * first bar. What LAG(close) would give over bars alone, but usable in the same OVER window as the
 * other aggregates of a bar-and-news timeline (NULL closes, the news rows, are skipped).
 */
@FunctionHint(accumulator = @DataTypeHint(value = "RAW", bridgedTo = PrevClose.Acc.class))
public class PrevClose extends AggregateFunction<Double, PrevClose.Acc> {

    public static class Acc extends BarAcc {
        public long count;
        public double last;
        public double previous;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime) {
        if (!acc.takes(close, barTime)) {
            return;
        }
        acc.previous = acc.last;
        acc.last = close;
        acc.count++;
    }

    @Override
    public Double getValue(Acc acc) {
        return acc.count >= 2 ? acc.previous : null;
    }
}
