output "stream_names" {
  description = "Kinesis stream per topic (TRADEFLOW_KINESIS_STREAM_PREFIX + topic)."
  value       = { for t, s in aws_kinesis_stream.topic : t => s.name }
}

output "stream_prefix" {
  description = "Value for TRADEFLOW_KINESIS_STREAM_PREFIX when a service outside AWS uses these streams."
  value       = local.stream_prefix
}

output "function_names" {
  description = "Lambda function per handler."
  value       = { for k, f in aws_lambda_function.fn : k => f.function_name }
}

output "state_table" {
  description = "DynamoDB table of the executor's state (TRADEFLOW_STATE_TABLE); put item pk=kill_switch to stop all orders."
  value       = aws_dynamodb_table.state.name
}

output "audit_table" {
  description = "DynamoDB table of the executor's audit trail."
  value       = aws_dynamodb_table.audit.name
}

output "alpaca_secret_name" {
  description = "Secret to fill out of band with {\"key_id\", \"secret_key\"}."
  value       = aws_secretsmanager_secret.alpaca.name
}

output "slack_secret_name" {
  description = "Secret to fill out of band with {\"bot_token\", \"channel\"} (null when Slack is off)."
  value       = one(aws_secretsmanager_secret.slack[*].name)
}

output "artifacts_bucket" {
  description = "S3 bucket of the Lambda and Flink application zips."
  value       = aws_s3_bucket.artifacts.id
}

output "flink_application_name" {
  description = "Managed Flink application (start it with aws kinesisanalyticsv2 start-application)."
  value       = aws_kinesisanalyticsv2_application.signals.name
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}
