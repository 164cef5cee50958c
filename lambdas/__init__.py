"""The AWS Lambda service: one thin module per function (`ingest_prices`, `ingest_news`,
`execute_signals`, the handlers Terraform names) over the service's own logic: per-container
wiring (`runtime`), scheduled ingestion into Kinesis (`ingest`), the signal executor
(`execute`) and its DynamoDB state (`dynamo_store`), and Secrets Manager access
(`aws_secrets`). It runs on the shared package `tradeflow/`, which knows nothing of it."""
