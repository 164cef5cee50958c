package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * BARS_SINCE_GAP(close, event_time, max_move): how many bars ago the last price gap happened, a
 * gap being a close-to-close move larger than {@code max_move} (as a fraction, e.g. 0.25 = 25 %).
 * Counts from the first bar when there was none.
 *
 * <p>A stock split (AAPL 7:1 on 2014-06-09) or a bad print looks like a crash to every
 * indicator: RSI collapses, the close falls far below the Bollinger band, the averages cross.
 * The indicators themselves stay exactly TA-Lib's; the signal rules use this count to stay quiet
 * until the indicators have re-warmed on post-gap prices.
 */
@FunctionHint(accumulator = @DataTypeHint(value = "RAW", bridgedTo = BarsSinceGap.Acc.class))
public class BarsSinceGap extends AggregateFunction<Long, BarsSinceGap.Acc> {

    public static class Acc extends BarAcc {
        public double last = Double.NaN;
        public long bars;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double close, Instant barTime, Double maxMove) {
        if (close == null || close <= 0 || !acc.takes(close, barTime)) {
            return;
        }
        if (maxMove == null || !(maxMove > 0)) {
            throw new IllegalArgumentException("BARS_SINCE_GAP max_move must be > 0, got " + maxMove);
        }
        boolean gap = !Double.isNaN(acc.last) && Math.abs(Math.log(close / acc.last)) > Math.log1p(maxMove);
        acc.bars = gap ? 0 : acc.bars + 1;
        acc.last = close;
    }

    @Override
    public Long getValue(Acc acc) {
        return acc.bars;
    }
}
