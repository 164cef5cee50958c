    -- Kinesis backend sink: KinesisStreamsSink of the same connector (AWS SDK v2, PutRecords with
    -- retries; at-least-once: the signal executor skips signal_ids it has already decided).
    -- The table has no PARTITIONED BY (the file sink would make directories of it), so
    -- partition keys are random: signals of one symbol may land on different shards.
    'connector' = 'kinesis',
    'stream' = '${topic}',
    'aws.region' = '${aws_region}',
${aws_client_options}
    'sink.partitioner' = 'random',
    'sink.fail-on-error' = 'false',
    'format' = 'json',
    'json.timestamp-format.standard' = 'ISO-8601'
