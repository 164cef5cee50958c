    -- Kafka/Redpanda backend, bounded (backtest over a topic): read from the beginning up to
    -- the offsets at job start, then finish. Offsets are not committed to any group.
    'connector' = 'kafka',
    'topic' = '${topic}',
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    'properties.group.id' = '${group_id}-backtest',
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = 'earliest-offset',
    'scan.bounded.mode' = 'latest-offset',
    'value.format' = 'json',
    'value.json.timestamp-format.standard' = 'ISO-8601',
    'value.json.fail-on-missing-field' = 'false',
    'value.json.ignore-parse-errors' = 'true'
