# Only the secret containers: their values are set out of band (see the README's deploy guide),
# so no key ever appears in a .tf file, a tfvars file or the Terraform state.
resource "aws_secretsmanager_secret" "alpaca" {
  #checkov:skip=CKV2_AWS_57:Alpaca keys are issued by Alpaca's dashboard; there is no rotation API for a Lambda to call, so they are rotated by hand (put-secret-value), which the functions pick up within TRADEFLOW_SECRET_CACHE_SECONDS.
  name                    = "${local.name}/alpaca"
  description             = "Alpaca API keys as JSON {\"key_id\": ..., \"secret_key\": ...}; value set out of band."
  kms_key_id              = aws_kms_key.tradeflow.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret" "slack" {
  #checkov:skip=CKV2_AWS_57:A Slack bot token is issued in Slack's app settings and has no rotation API; rotated by hand like the Alpaca keys.
  count = var.enable_slack ? 1 : 0

  name                    = "${local.name}/slack"
  description             = "Slack bot token and channel as JSON {\"bot_token\": ..., \"channel\": ...}; value set out of band."
  kms_key_id              = aws_kms_key.tradeflow.arn
  recovery_window_in_days = 7
}
