"""What the AWS Lambdas need, kept in the shared package so the handlers in lambdas/ stay thin:
settings, Secrets Manager access, scheduled ingestion into Kinesis and the signal executor."""
