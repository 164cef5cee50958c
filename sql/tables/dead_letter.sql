-- dead-letter: what the job refused (tradeflow.contracts.DeadLetter, JSON), beside what the
-- producers and the consumer refused.
CREATE TABLE dead_letter (
    v             INT,
    original      STRING,
    reason        STRING,
    component     STRING,
    source_topic  STRING,
    `time`        TIMESTAMP_LTZ(3)
) WITH (
${connector}
);
