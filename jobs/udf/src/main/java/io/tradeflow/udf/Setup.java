package io.tradeflow.udf;

import org.apache.flink.table.functions.ScalarFunction;

/**
 * SETUP(condition): 1 when a technical setup fires on the bar, 0 when it does not (a NULL
 * condition, an indicator still warming up, does not fire).
 *
 * <p>Declared non-deterministic only so that the planner computes each setup once per bar. Flink
 * merges consecutive projections and copies an expression into every place that reads it, and the
 * rules read each setup many times over (the action, the strength, the confidence, the reason, the
 * signal id, the stop-loss, the take-profit, the filter): the rules' generated code grew to many
 * thousands of lines, planned and compiled at each submission. A non-deterministic expression is
 * never copied, so the setups stay in a projection of their own. The result itself depends on the
 * condition alone.
 */
public class Setup extends ScalarFunction {

    public int eval(Boolean condition) {
        return Boolean.TRUE.equals(condition) ? 1 : 0;
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
