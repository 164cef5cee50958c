    -- File backend, bounded (backtest): read what the directory holds now, then finish.
    'connector' = 'filesystem',
    'path' = '${path}',
    'format' = 'json',
    'json.timestamp-format.standard' = 'ISO-8601',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'true'
