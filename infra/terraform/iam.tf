data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "fn" {
  for_each = toset(local.functions)

  name               = "${local.name}-${replace(each.key, "_", "-")}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# Each function gets exactly what its code calls, on the resources it uses, nothing else.
data "aws_iam_policy_document" "ingest" {
  for_each = toset(["ingest_prices", "ingest_news"])

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fn[each.key].arn}:*"]
  }

  statement {
    sid     = "PublishRecords"
    actions = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [
      local.stream_arn[each.key == "ingest_prices" ? "stock-prices" : "market-news"],
      local.stream_arn["dead-letter"],
    ]
  }

  statement {
    sid       = "IngestState"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"]
    resources = [aws_dynamodb_table.ingest.arn]
  }

  statement {
    sid       = "AlpacaKeys"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.alpaca.arn]
  }

  statement {
    sid       = "EncryptedResources"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tradeflow.arn]
  }

  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq[each.key].arn]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "execute" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fn["execute_signals"].arn}:*"]
  }

  statement {
    sid       = "ReadSignals"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
    resources = [local.stream_arn["trading-signals"]]
  }

  statement {
    sid       = "PublishOrdersAndDeadLetters"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [local.stream_arn["orders"], local.stream_arn["dead-letter"]]
  }

  statement {
    sid       = "DecisionState"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.state.arn, "${aws_dynamodb_table.state.arn}/index/*", aws_dynamodb_table.audit.arn]
  }

  statement {
    sid       = "Keys"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat([aws_secretsmanager_secret.alpaca.arn], aws_secretsmanager_secret.slack[*].arn)
  }

  statement {
    sid       = "EncryptedResources"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tradeflow.arn]
  }

  statement {
    sid       = "FailedBatches"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq["execute_signals"].arn]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "fn" {
  for_each = toset(local.functions)

  name   = "least-privilege"
  role   = aws_iam_role.fn[each.key].id
  policy = each.key == "execute_signals" ? data.aws_iam_policy_document.execute.json : data.aws_iam_policy_document.ingest[each.key].json
}
