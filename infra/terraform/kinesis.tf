resource "aws_kinesis_stream" "topic" {
  for_each = toset(local.topics)

  name             = "${local.stream_prefix}${each.key}"
  shard_count      = var.kinesis_stream_mode == "PROVISIONED" ? var.kinesis_shard_count : null
  retention_period = var.kinesis_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.tradeflow.arn

  stream_mode_details {
    stream_mode = var.kinesis_stream_mode
  }
}
