    -- File backend, streaming: watch the topic directory for newly sealed NDJSON segments.
    -- Writers seal segments whole and hide in-progress files (names starting with '.'), which
    -- the filesystem connector skips, so Flink never reads half a segment.
    'connector' = 'filesystem',
    'path' = '${path}',
    'format' = 'json',
    'json.timestamp-format.standard' = 'ISO-8601',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'true',
    'source.monitor-interval' = '${monitor_interval}'
