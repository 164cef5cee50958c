package io.tradeflow.udf;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;

/** Results of the indicators with several lines (MACD, Bollinger). */
final class Rows {
    private Rows() {}

    /**
     * {@code ROW<the lines at the current bar, the same lines at the bar before>}: what a crossing
     * rule compares, from one call and one state. Lines not yet defined are NULL.
     */
    static RowData thisAndPrevBar(boolean defined, double[] lines, boolean prevDefined, double[] prevLines) {
        GenericRowData row = new GenericRowData(lines.length + prevLines.length);
        for (int i = 0; i < lines.length; i++) {
            row.setField(i, defined ? lines[i] : null);
        }
        for (int i = 0; i < prevLines.length; i++) {
            row.setField(lines.length + i, prevDefined ? prevLines[i] : null);
        }
        return row;
    }
}
