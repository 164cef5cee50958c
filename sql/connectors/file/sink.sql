    -- File backend sink: part files are written hidden and made visible at each checkpoint,
    -- so a reader only ever sees committed, complete files (exactly once with checkpointing).
    'connector' = 'filesystem',
    'path' = '${path}',
    'format' = 'json',
    'json.timestamp-format.standard' = 'ISO-8601',
    'sink.rolling-policy.rollover-interval' = '${rollover_interval}',
    'sink.rolling-policy.check-interval' = '${rollover_interval}'
