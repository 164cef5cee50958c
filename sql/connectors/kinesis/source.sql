    -- Kinesis backend (AWS Managed Flink), Flink Kinesis connector 5.x (`kinesis` = the new
    -- Source API). ${topic} is the stream ARN; the region must be the ARN's region.
    -- JSON as the other backends write it: ISO-8601 timestamps with Z (TIMESTAMP_LTZ); a record
    -- that is not a valid row is skipped here (producers dead-letter what breaks the contracts).
    'connector' = 'kinesis',
    'stream.arn' = '${topic}',
    'aws.region' = '${aws_region}',
    'source.init.position' = '${source_init_position}',
    'source.shard.discovery.interval' = '10 s',
    'format' = 'json',
    'json.timestamp-format.standard' = 'ISO-8601',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'true'
