-- The Python function of the job (the JVM ones are in functions.sql).
-- Where it runs (an interpreter embedded in the TaskManager, or a worker process) is the job's
-- python_mode, see jobs/signal_job.py.

-- SCORE_SENTIMENT(headline, summary, scorer) -> DOUBLE in [-1, 1]: tradeflow.sentiment, in Python.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS SCORE_SENTIMENT AS 'jobs.udfs.score_sentiment' LANGUAGE PYTHON;
