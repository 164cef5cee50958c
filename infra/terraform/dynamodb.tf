# The signal executor's state (lambdas.dynamo_store): processed signals, orders, small
# facts and the kill switch item. The sparse `unfinished` index lists orders not final yet;
# `by_symbol` answers cooldowns.
resource "aws_dynamodb_table" "state" {
  name         = "${local.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "unfinished"
    type = "S"
  }

  attribute {
    name = "decided_wall"
    type = "S"
  }

  attribute {
    name = "order_symbol"
    type = "S"
  }

  attribute {
    name = "decided_clock"
    type = "S"
  }

  global_secondary_index {
    name            = "unfinished"
    hash_key        = "unfinished"
    range_key       = "decided_wall"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "by_symbol"
    hash_key        = "order_symbol"
    range_key       = "decided_clock"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.tradeflow.arn
  }

  deletion_protection_enabled = var.environment == "prod"
}

resource "aws_dynamodb_table" "audit" {
  name         = "${local.name}-audit"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "event_id"

  attribute {
    name = "event_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.tradeflow.arn
  }

  deletion_protection_enabled = var.environment == "prod"
}

# Ingestion cursors (last bar end per symbol) and news ids already published (TTL).
resource "aws_dynamodb_table" "ingest" {
  name         = "${local.name}-ingest"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.tradeflow.arn
  }
}
