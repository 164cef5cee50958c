package io.tradeflow.udf;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * NEWS_SENTIMENT(score, published_at, event_time, lookback_seconds, half_life_seconds): the
 * time-decayed mean sentiment of a symbol's news as known at the end of the current bar, returned
 * as {@code ROW<sentiment DOUBLE, news_count INT>}.
 *
 * <p>Meant for a timeline of bars and news of one symbol, {@code OVER (PARTITION BY symbol ORDER
 * BY event_time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)}. A story row carries its score
 * and {@code published_at}; a bar row has {@code published_at} NULL and ends at
 * {@code event_time}. The timeline orders a story just before its publication time
 * (market_news.sql), so every story published at or before a bar's end is accumulated before the
 * bar, whatever order they arrived in. The bar's end alone moves the clock, and a story published
 * after it is kept for later bars but not counted (no look-ahead). Each story weighs
 * {@code 0.5^(age / half_life)}; stories older than the look-back are dropped, which also bounds
 * the state. No story in the look-back gives NULL.
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = NewsSentiment.Acc.class),
        output = @DataTypeHint(value = "ROW<sentiment DOUBLE, news_count INT>", bridgedTo = RowData.class))
public class NewsSentiment extends AggregateFunction<RowData, NewsSentiment.Acc> {

    public static class Acc {
        // The stories of the look-back in timeline (publication) order; the first `visible` of
        // them were published by the end of the latest bar, `now`.
        public long[] times = new long[0]; // epoch millis
        public double[] scores = new double[0];
        public int size;
        public int visible;
        public long now = Long.MIN_VALUE;
        public long lookbackMillis;
        public double halfLifeMillis;
        // The result for the visible stories; recomputed only when they change (not saved in
        // checkpoints: recomputed after a restore).
        public transient RowData result;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Double score, Instant publishedAt, Instant eventTime,
                           Integer lookbackSeconds, Integer halfLifeSeconds) {
        acc.lookbackMillis = 1000L * Periods.require(lookbackSeconds, "sentiment look-back seconds");
        acc.halfLifeMillis = 1000.0 * Periods.require(halfLifeSeconds, "sentiment half-life seconds");
        if (eventTime == null) {
            return;
        }
        if (publishedAt != null) {
            if (score != null && !score.isNaN()) {
                insert(acc, publishedAt.toEpochMilli(), score);
            }
            // Every later bar ends at or after this story's place on the timeline, so what is
            // too old here is too old for them: a symbol with news and no bars stays bounded.
            prune(acc, eventTime.toEpochMilli());
            return;
        }
        acc.now = Math.max(acc.now, eventTime.toEpochMilli());
        while (acc.visible < acc.size && acc.times[acc.visible] <= acc.now) {
            acc.visible++;
            acc.result = null;
        }
        prune(acc, acc.now);
    }

    /** Keeps the stories in publication order (the window delivers them so; a tie goes last). */
    private static void insert(Acc acc, long t, double score) {
        if (acc.size == acc.times.length) {
            int cap = Math.max(8, acc.size * 2);
            acc.times = java.util.Arrays.copyOf(acc.times, cap);
            acc.scores = java.util.Arrays.copyOf(acc.scores, cap);
        }
        int at = acc.size;
        while (at > 0 && acc.times[at - 1] > t) {
            at--;
        }
        System.arraycopy(acc.times, at, acc.times, at + 1, acc.size - at);
        System.arraycopy(acc.scores, at, acc.scores, at + 1, acc.size - at);
        acc.times[at] = t;
        acc.scores[at] = score;
        acc.size++;
        if (t <= acc.now) {
            acc.visible++;
            acc.result = null;
        }
    }

    /** Drop the stories strictly older than {@code time} minus the look-back. */
    private static void prune(Acc acc, long time) {
        int keepFrom = 0;
        while (keepFrom < acc.size && acc.times[keepFrom] < time - acc.lookbackMillis) {
            keepFrom++;
        }
        if (keepFrom > 0) {
            System.arraycopy(acc.times, keepFrom, acc.times, 0, acc.size - keepFrom);
            System.arraycopy(acc.scores, keepFrom, acc.scores, 0, acc.size - keepFrom);
            acc.size -= keepFrom;
            acc.visible = Math.max(0, acc.visible - keepFrom);
            acc.result = null;
        }
    }

    /**
     * The weighted mean of the visible stories. The weights' ratios do not depend on the clock
     * (each halves every half-life), so the mean changes only when a story enters or leaves: it
     * is computed then, with weights relative to the newest story, and reused for every bar in
     * between instead of being recomputed from all the stories at each bar.
     */
    @Override
    public RowData getValue(Acc acc) {
        if (acc.result == null) {
            acc.result = weightedMean(acc);
        }
        return acc.result;
    }

    private static RowData weightedMean(Acc acc) {
        if (acc.visible == 0) {
            return GenericRowData.of(null, 0);
        }
        long newest = acc.times[acc.visible - 1];
        double weighted = 0;
        double weights = 0;
        for (int i = 0; i < acc.visible; i++) {
            double w = Math.pow(0.5, (newest - acc.times[i]) / acc.halfLifeMillis);
            weighted += w * acc.scores[i];
            weights += w;
        }
        return GenericRowData.of(weighted / weights, acc.visible);
    }
}
