    -- Kinesis backend sink, Flink Kinesis connector 5.x (KinesisStreamsSink, PutRecords with
    -- retries; at-least-once: the signal executor skips signal_ids it has already decided).
    -- The table has no PARTITIONED BY (the file sink would make directories of it), so
    -- partition keys are random: signals of one symbol may land on different shards.
    'connector' = 'kinesis',
    'stream.arn' = '${topic}',
    'aws.region' = '${aws_region}',
    'sink.partitioner' = 'random',
    'sink.fail-on-error' = 'false',
    'format' = 'json',
    'json.timestamp-format.standard' = 'ISO-8601'
