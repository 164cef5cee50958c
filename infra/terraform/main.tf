data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name       = "tradeflow-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  topics     = ["stock-prices", "market-news", "trading-signals", "orders", "dead-letter"]
  # Stream names = TRADEFLOW_KINESIS_STREAM_PREFIX + topic, as the Kinesis backend expects.
  stream_prefix = "${local.name}-"
  functions     = ["ingest_prices", "ingest_news", "execute_signals"]
  log_group_arn = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group"
}

# One customer-managed key for streams, tables, secrets, queues, logs and the artifacts bucket:
# one key policy to review, rotation on, and every encrypted resource auditable in CloudTrail.
resource "aws_kms_key" "tradeflow" {
  description             = "${local.name}: streams, tables, secrets, queues, logs, artifacts"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "tradeflow" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.tradeflow.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: "*" as resource means this key only, and the account-root statement is AWS's default, which hands access control to IAM policies (each role here names the key's ARN).
  #checkov:skip=CKV_AWS_356:Same key policy: in a key policy the only possible resource is the key itself, written "*".
  #checkov:skip=CKV_AWS_109:Same key policy: kms:* for the account root is what lets IAM (not this policy) decide who administers the key; without it the key becomes unmanageable.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["${local.log_group_arn}:*"]
    }
  }

  statement {
    sid       = "AlarmNotifications"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}
