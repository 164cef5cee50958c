-- The Python function of the job (the JVM ones are in functions.sql).
-- It runs in PyFlink's "thread" execution mode (an interpreter embedded in the TaskManager, see
-- jobs/signal_job.py) unless the job says otherwise.

-- SCORE_SENTIMENT(headline, summary, scorer) -> DOUBLE in [-1, 1]: tradeflow.sentiment, in Python.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS SCORE_SENTIMENT AS 'jobs.udfs.score_sentiment' LANGUAGE PYTHON;
