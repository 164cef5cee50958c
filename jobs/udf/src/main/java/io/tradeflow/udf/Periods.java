package io.tradeflow.udf;

/** Argument checks shared by the indicator aggregates. */
final class Periods {
    private Periods() {}

    /**
     * Periods arrive as SQL literals on every row; a null or non-positive one is a configuration
     * error, and failing loudly beats emitting silently wrong indicators.
     */
    static int require(Integer period, String what) {
        if (period == null || period < 1) {
            throw new IllegalArgumentException(what + " must be a positive integer, got " + period);
        }
        return period;
    }

    /** State is sized from the first row's period; a later row with another period is a bug. */
    static void sameAsBefore(int stored, int given, String what) {
        if (stored != given) {
            throw new IllegalArgumentException(
                    what + " changed from " + stored + " to " + given + " within one partition");
        }
    }

    /** TA-Lib's PER_TO_K: the EMA smoothing factor for a period. */
    static double emaK(int period) {
        return 2.0 / (double) (period + 1);
    }
}
