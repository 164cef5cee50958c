variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Name of this deployment (dev, prod, ...): part of every resource name."
  type        = string
  default     = "dev"
}

variable "kinesis_stream_mode" {
  description = "Capacity mode of the Kinesis streams: ON_DEMAND (pay per GB, no shard planning) or PROVISIONED (pay per shard-hour; cheaper at steady low volume)."
  type        = string
  default     = "PROVISIONED"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.kinesis_stream_mode)
    error_message = "kinesis_stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "kinesis_shard_count" {
  description = "Shards per stream when kinesis_stream_mode is PROVISIONED."
  type        = number
  default     = 1
}

variable "kinesis_retention_hours" {
  description = "Hours a record stays in a stream (24 is free; the signal executor must catch up within it)."
  type        = number
  default     = 24
}

variable "symbols" {
  description = "Symbols the ingestion functions poll (TRADEFLOW_SYMBOLS)."
  type        = list(string)
  default     = ["AAPL", "MSFT", "GOOG", "AMZN", "SPY"]
}

variable "ingest_schedule" {
  description = "EventBridge schedule expression of both ingestion functions."
  type        = string
  default     = "rate(1 minute)"
}

variable "alpaca_trading_url" {
  description = "Alpaca trading API base URL (APCA_API_BASE_URL); the paper endpoint unless you mean it."
  type        = string
  default     = "https://paper-api.alpaca.markets"
}

variable "alpaca_data_url" {
  description = "Alpaca market-data API base URL (APCA_API_DATA_URL)."
  type        = string
  default     = "https://data.alpaca.markets"
}

variable "alpaca_feed" {
  description = "Alpaca bar feed: iex (free) or sip (paid data plan)."
  type        = string
  default     = "iex"
}

variable "enable_slack" {
  description = "Create the Slack secret and send notifications to Slack (else to the function's log)."
  type        = bool
  default     = true
}

variable "lambda_zip_dir" {
  description = "Directory holding the zips built by `make lambda-zips` (ingest_prices.zip, ingest_news.zip, execute_signals.zip)."
  type        = string
  default     = "../../build/lambda"
}

variable "flink_app_zip" {
  description = "Application zip built by `make flink-app-zip`."
  type        = string
  default     = "../../build/flink-app/tradeflow-flink-app.zip"
}

variable "execute_batch_size" {
  description = "Signals per invocation of the executor (records of one shard, in order)."
  type        = number
  default     = 10
}

variable "execute_max_retries" {
  description = "Retries of a failing batch before its records go to the on-failure queue."
  type        = number
  default     = 5
}

variable "consumer_environment" {
  description = "Extra TRADEFLOW_* settings of the signal executor (risk limits, sizing, ...), see the README's configuration table."
  type        = map(string)
  default     = {}
}

variable "flink_parallelism" {
  description = "Parallelism of the Flink job (one KPU per 1 parallelism here)."
  type        = number
  default     = 1
}

variable "flink_autoscaling" {
  description = "Let Managed Flink scale KPUs with load."
  type        = bool
  default     = false
}

variable "flink_start_application" {
  description = "Start the Flink application on apply (false: deploy stopped, start it by hand)."
  type        = bool
  default     = false
}

variable "flink_source_init_position" {
  description = "Where a fresh Flink job starts reading: TRIM_HORIZON (warms indicators up on retained history) or LATEST."
  type        = string
  default     = "TRIM_HORIZON"
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the functions' and the Flink application's logs."
  type        = number
  default     = 365
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the executor's oldest unprocessed signal is older than this (milliseconds)."
  type        = number
  default     = 60000
}

variable "alarm_email" {
  description = "E-mail subscribed to the alarm topic (empty: no subscription)."
  type        = string
  default     = ""
}
