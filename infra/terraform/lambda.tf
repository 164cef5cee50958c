locals {
  stream_arn = { for t, s in aws_kinesis_stream.topic : t => s.arn }

  common_env = {
    TRADEFLOW_BACKEND               = "kinesis"
    TRADEFLOW_KINESIS_STREAM_PREFIX = local.stream_prefix
    TRADEFLOW_DATA_DIR              = "/tmp/tradeflow"
    TRADEFLOW_SYMBOLS               = join(",", var.symbols)
    TRADEFLOW_ALPACA_SECRET_ID      = aws_secretsmanager_secret.alpaca.name
    APCA_API_DATA_URL               = var.alpaca_data_url
    APCA_API_BASE_URL               = var.alpaca_trading_url
  }

  function_env = {
    ingest_prices = merge(local.common_env, {
      TRADEFLOW_INGEST_TABLE = aws_dynamodb_table.ingest.name
      TRADEFLOW_ALPACA_FEED  = var.alpaca_feed
    })
    ingest_news = merge(local.common_env, {
      TRADEFLOW_INGEST_TABLE = aws_dynamodb_table.ingest.name
    })
    execute_signals = merge(local.common_env, {
      TRADEFLOW_STATE_TABLE        = aws_dynamodb_table.state.name
      TRADEFLOW_AUDIT_TABLE        = aws_dynamodb_table.audit.name
      TRADEFLOW_SLACK_SECRET_ID    = var.enable_slack ? aws_secretsmanager_secret.slack[0].name : ""
      TRADEFLOW_BROKER             = "alpaca"
      TRADEFLOW_ORDER_WAIT_SECONDS = "10"
    }, var.consumer_environment)
  }

  # Ingestion is a single writer per table on purpose (cursors); the executor scales with shards.
  function_concurrency = {
    ingest_prices   = 1
    ingest_news     = 1
    execute_signals = 10
  }

  function_timeout = {
    ingest_prices   = 50
    ingest_news     = 50
    execute_signals = 120
  }
}

resource "aws_s3_object" "lambda_zip" {
  for_each = toset(local.functions)

  bucket      = aws_s3_bucket.artifacts.id
  key         = "lambda/${each.key}.zip"
  source      = "${var.lambda_zip_dir}/${each.key}.zip"
  source_hash = filemd5("${var.lambda_zip_dir}/${each.key}.zip")
}

resource "aws_lambda_function" "fn" {
  #checkov:skip=CKV_AWS_117:The functions call Alpaca and Slack on the internet; in a VPC that needs a NAT gateway (about 33 USD/month) and adds nothing, as they reach no private resource.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signing step in the build; the zips are built reproducibly from the repository and uploaded by Terraform from CI.
  for_each = toset(local.functions)

  function_name                  = "${local.name}-${replace(each.key, "_", "-")}"
  role                           = aws_iam_role.fn[each.key].arn
  runtime                        = "python3.11"
  handler                        = "lambdas.${each.key}.handler"
  s3_bucket                      = aws_s3_object.lambda_zip[each.key].bucket
  s3_key                         = aws_s3_object.lambda_zip[each.key].key
  s3_object_version              = aws_s3_object.lambda_zip[each.key].version_id
  source_code_hash               = filebase64sha256("${var.lambda_zip_dir}/${each.key}.zip")
  memory_size                    = each.key == "execute_signals" ? 512 : 256
  timeout                        = local.function_timeout[each.key]
  reserved_concurrent_executions = local.function_concurrency[each.key]
  kms_key_arn                    = aws_kms_key.tradeflow.arn

  environment {
    variables = local.function_env[each.key]
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dlq[each.key].arn
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.fn[each.key].name
  }

  depends_on = [aws_iam_role_policy.fn]
}

resource "aws_cloudwatch_log_group" "fn" {
  for_each = toset(local.functions)

  name              = "/aws/lambda/${local.name}-${replace(each.key, "_", "-")}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tradeflow.arn
}

# Failed asynchronous invocations (ingestion) and, for the executor, batches that still fail
# after every retry (the event source mapping's on-failure destination): kept 14 days.
resource "aws_sqs_queue" "dlq" {
  for_each = toset(local.functions)

  name                      = "${local.name}-${replace(each.key, "_", "-")}-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.tradeflow.arn
}

# --- schedules ----------------------------------------------------------------------------------
resource "aws_cloudwatch_event_rule" "ingest" {
  for_each = toset(["ingest_prices", "ingest_news"])

  name                = "${local.name}-${replace(each.key, "_", "-")}"
  description         = "Runs ${each.key} on a schedule"
  schedule_expression = var.ingest_schedule
}

resource "aws_cloudwatch_event_target" "ingest" {
  for_each = aws_cloudwatch_event_rule.ingest

  rule  = each.value.name
  arn   = aws_lambda_function.fn[each.key].arn
  input = jsonencode({ symbols = var.symbols })
}

resource "aws_lambda_permission" "schedule" {
  for_each = aws_cloudwatch_event_rule.ingest

  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn[each.key].function_name
  principal     = "events.amazonaws.com"
  source_arn    = each.value.arn
}

# --- the executor's trigger -----------------------------------------------------------------------
resource "aws_lambda_event_source_mapping" "signals" {
  event_source_arn                   = aws_kinesis_stream.topic["trading-signals"].arn
  function_name                      = aws_lambda_function.fn["execute_signals"].arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.execute_batch_size
  maximum_batching_window_in_seconds = 0
  parallelization_factor             = 1
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.execute_max_retries
  maximum_record_age_in_seconds      = 3600

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.dlq["execute_signals"].arn
    }
  }
}
