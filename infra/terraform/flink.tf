resource "aws_s3_object" "flink_app" {
  bucket      = aws_s3_bucket.artifacts.id
  key         = "flink/tradeflow-flink-app.zip"
  source      = var.flink_app_zip
  source_hash = filemd5(var.flink_app_zip)
}

resource "aws_cloudwatch_log_group" "flink" {
  name              = "/aws/kinesis-analytics/${local.name}-signals"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tradeflow.arn
}

resource "aws_cloudwatch_log_stream" "flink" {
  name           = "application"
  log_group_name = aws_cloudwatch_log_group.flink.name
}

data "aws_iam_policy_document" "flink_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["kinesisanalytics.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flink" {
  name               = "${local.name}-flink"
  assume_role_policy = data.aws_iam_policy_document.flink_assume.json
}

data "aws_iam_policy_document" "flink" {
  statement {
    sid       = "ApplicationCode"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.artifacts.arn}/${aws_s3_object.flink_app.key}"]
  }

  statement {
    sid       = "ReadPricesAndNews"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
    resources = [local.stream_arn["stock-prices"], local.stream_arn["market-news"]]
  }

  statement {
    sid       = "WriteSignalsAndDeadLetters"
    actions   = ["kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [local.stream_arn["trading-signals"], local.stream_arn["dead-letter"]]
  }

  statement {
    sid       = "EncryptedResources"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tradeflow.arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.flink.arn}:*"]
  }

  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["AWS/KinesisAnalytics"]
    }
  }
}

resource "aws_iam_role_policy" "flink" {
  name   = "least-privilege"
  role   = aws_iam_role.flink.id
  policy = data.aws_iam_policy_document.flink.json
}

resource "aws_kinesisanalyticsv2_application" "signals" {
  name                   = "${local.name}-signals"
  description            = "tradeflow signal job (PyFlink SQL): prices + news -> trading signals"
  runtime_environment    = "FLINK-1_20"
  service_execution_role = aws_iam_role.flink.arn
  start_application      = var.flink_start_application

  application_configuration {
    application_code_configuration {
      code_content_type = "ZIPFILE"

      code_content {
        s3_content_location {
          bucket_arn     = aws_s3_bucket.artifacts.arn
          file_key       = aws_s3_object.flink_app.key
          object_version = aws_s3_object.flink_app.version_id
        }
      }
    }

    environment_properties {
      # How the service runs a PyFlink application: the entry point and the one dependency jar.
      property_group {
        property_group_id = "kinesis.analytics.flink.run.options"
        property_map = {
          python  = "main.py"
          jarfile = "lib/pyflink-dependencies.jar"
        }
      }

      # Read by jobs/package_flink_app.py (run_application) from application_properties.json.
      property_group {
        property_group_id = "tradeflow"
        property_map = {
          aws_region             = var.region
          prices_stream_arn      = local.stream_arn["stock-prices"]
          news_stream_arn        = local.stream_arn["market-news"]
          signals_stream_arn     = local.stream_arn["trading-signals"]
          dead_letter_stream_arn = local.stream_arn["dead-letter"]
          source_init_position   = var.flink_source_init_position
          parallelism            = tostring(var.flink_parallelism)
          job_name               = "${local.name}-signals"
        }
      }
    }

    flink_application_configuration {
      checkpoint_configuration {
        configuration_type = "DEFAULT"
      }

      monitoring_configuration {
        configuration_type = "CUSTOM"
        log_level          = "INFO"
        metrics_level      = "APPLICATION"
      }

      parallelism_configuration {
        configuration_type   = "CUSTOM"
        auto_scaling_enabled = var.flink_autoscaling
        parallelism          = var.flink_parallelism
        parallelism_per_kpu  = 1
      }
    }

    application_snapshot_configuration {
      snapshots_enabled = true
    }

    run_configuration {
      application_restore_configuration {
        application_restore_type = "RESTORE_FROM_LATEST_SNAPSHOT"
      }

      flink_run_configuration {
        allow_non_restored_state = false
      }
    }
  }

  cloudwatch_logging_options {
    log_stream_arn = aws_cloudwatch_log_stream.flink.arn
  }

  depends_on = [aws_iam_role_policy.flink]
}
