    -- Kinesis backend, streaming: Flink's Kinesis connector 4.3.0-1.19 (jvm/pom.xml; the newest
    -- Maven Central serves, run on Flink 1.20). Its SQL source is the polling FlinkKinesisConsumer
    -- (DescribeStream, ListShards, GetShardIterator, GetRecords), reading every shard of the
    -- stream; 'stream' takes the stream's name, not its ARN. Its watermark is per subtask, not
    -- per shard: bars of two shards read by one subtask can be late against each other.
    -- A new job starts at source_init_position (TRIM_HORIZON: the retained history, so the
    -- indicators warm up); a restored job resumes from the sequence numbers in its checkpoint.
    -- The client options are none on AWS (credentials and region from the environment and the
    -- role); against a local moto server they name its endpoint (jobs.signal_job.kinesis_job).
    -- JSON as the other backends write it: ISO-8601 timestamps with Z (TIMESTAMP_LTZ); a record
    -- that is not a valid row is skipped here (producers dead-letter what breaks the contracts).
    'connector' = 'kinesis',
    'stream' = '${topic}',
    'aws.region' = '${aws_region}',
${aws_client_options}
    'scan.stream.initpos' = '${source_init_position}',
    'scan.shard.discovery.intervalmillis' = '10000',
    'format' = 'json',
    'json.timestamp-format.standard' = 'ISO-8601',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'true'
