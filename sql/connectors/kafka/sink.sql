    -- Kafka/Redpanda backend sink: one transaction per checkpoint, committed when the checkpoint
    -- completes, so read_committed consumers see each record exactly once, even across job
    -- restarts. The transactional ids start with the prefix, which must be unique per sink on
    -- the cluster and stable across restarts (a restarted job aborts its own leftover
    -- transactions by these ids).
    'connector' = 'kafka',
    'topic' = '${topic}',
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    'sink.delivery-guarantee' = 'exactly-once',
    'sink.transactional-id-prefix' = '${transactional_id_prefix}-${topic}',
    -- At most the broker's limit (15 min by default on Kafka and Redpanda); a transaction left
    -- open longer than this by a crashed job is aborted by the broker.
    'properties.transaction.timeout.ms' = '900000',
    -- Key = the table's key field, the contract's key (UTF-8, as the services' producers write
    -- it): the symbol for signals, so all of a symbol's records go to one partition in order; the
    -- component for dead letters. The field stays in the value too (the contract's JSON).
    'key.format' = 'raw',
    'key.fields' = '${key_field}',
    'value.format' = 'json',
    'value.json.timestamp-format.standard' = 'ISO-8601',
    'value.fields-include' = 'ALL'
