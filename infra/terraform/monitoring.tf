resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.tradeflow.arn
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# The executor falls behind the signals stream (or is stuck retrying a record).
resource "aws_cloudwatch_metric_alarm" "execute_iterator_age" {
  alarm_name          = "${local.name}-execute-signals-iterator-age"
  alarm_description   = "Signals wait longer than ${var.iterator_age_alarm_ms} ms before the executor reads them."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.fn["execute_signals"].function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# The Flink job falls behind the prices stream.
resource "aws_cloudwatch_metric_alarm" "prices_iterator_age" {
  alarm_name          = "${local.name}-stock-prices-iterator-age"
  alarm_description   = "The Flink job reads stock-prices more than 5 minutes behind."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.topic["stock-prices"].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 300000
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = toset(local.functions)

  alarm_name          = "${local.name}-${replace(each.key, "_", "-")}-errors"
  alarm_description   = "${each.key} failed (ingestion: Alpaca or Kinesis errors; executor: DynamoDB, Kinesis or secrets)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.fn[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 2
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "dlq_messages" {
  for_each = toset(local.functions)

  alarm_name          = "${local.name}-${replace(each.key, "_", "-")}-dlq"
  alarm_description   = "Something reached the dead-letter queue of ${each.key}: it was not processed."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

# Managed Flink reports `downtime` (ms) while the job is not running, e.g. restarting in a loop.
resource "aws_cloudwatch_metric_alarm" "flink_downtime" {
  alarm_name          = "${local.name}-flink-downtime"
  alarm_description   = "The signal job is down (restarting or failed)."
  namespace           = "AWS/KinesisAnalytics"
  metric_name         = "downtime"
  dimensions          = { Application = aws_kinesisanalyticsv2_application.signals.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
