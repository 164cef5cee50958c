    -- Kafka/Redpanda backend, streaming: read the topic as it grows. Producers key records by
    -- symbol, so one symbol's bars stay in order within a partition; the value holds every
    -- column, so the key is not read. The event-time watermark comes from the table DDL.
    -- A new job starts from the group's committed offsets, or from the beginning of the topic
    -- when the group has none; a restored job resumes from the offsets in its checkpoint.
    'connector' = 'kafka',
    'topic' = '${topic}',
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    'properties.group.id' = '${group_id}',
    'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest',
    -- Only records of committed transactions (the default is to read aborted ones too).
    'properties.isolation.level' = 'read_committed',
    -- Picks up partitions added to the topic while the job runs.
    'scan.topic-partition-discovery.interval' = '60 s',
    'value.format' = 'json',
    'value.json.timestamp-format.standard' = 'ISO-8601',
    -- Malformed records are skipped here; producers already dead-letter what breaks the contracts.
    'value.json.fail-on-missing-field' = 'false',
    'value.json.ignore-parse-errors' = 'true'
