# tradeflow: the two commands are `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-unit test-integration bench clean help lambda-zips flink-app-zip aws-local checkov

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install whenever the dependency pins change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[flink,test]'
	touch $(STAMP)

# The Kafka and Kinesis connectors and the Kafka broker, from Maven Central (pins: jvm/pom.xml),
# and the job's JVM indicator functions (build/tradeflow-udf.jar, compiled with javac).
JVM_STAMP := build/jars/.fetched
$(JVM_STAMP): $(STAMP) jvm/pom.xml
	$(BIN)/python -m tradeflow.jvm fetch
	$(BIN)/python -m jobs.udf.build  # before the tests: two workers must not both build it
	touch $(JVM_STAMP)

install: $(STAMP) $(JVM_STAMP)  ## create .venv/, install tradeflow with its test tools, fetch the JVM parts

BACKEND ?= file
run: install  ## run the whole pipeline (BACKEND=file|kafka, default file); Ctrl-C stops it
	$(BIN)/tradeflow --backend $(BACKEND) run

# Two workers, a test file each: most of the suite waits on JVMs, brokers and clusters.
TEST_WORKERS ?= 2
test: install checkov  ## run the whole test suite (TEST_WORKERS=2 at a time)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Unit tests need no Java, broker or server (the `integration` marker: README, Tests).
test-unit: $(STAMP)  ## run the unit tests only (no JVM, broker, subprocess, browser or server)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not integration"

test-integration: install checkov  ## run the integration tests only (JVMs, brokers, servers)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m integration

bench: install  ## run the benchmarks (ratios against a baseline run side by side)
	$(BIN)/python -m benchmarks

lambda-zips: install  ## build build/lambda/<function>.zip for the three AWS Lambdas
	$(BIN)/python lambdas/package.py

flink-app-zip: install  ## build build/flink-app/tradeflow-flink-app.zip for AWS Managed Flink 1.20
	$(BIN)/python jobs/package_flink_app.py

aws-local: install  ## ingest -> Kinesis -> execute on a local moto server with Alpaca/Slack stubs
	$(BIN)/python tools/aws_local.py

# checkov has many dependencies of its own: it gets its own virtualenv (tests/infra runs it).
.venv-checkov/bin/checkov:
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet checkov==3.3.30

checkov: .venv-checkov/bin/checkov  ## the Terraform scanner, in .venv-checkov/

clean:  ## remove the virtualenvs, build output and the default data directory
	rm -rf $(VENV) .venv-checkov .tradeflow build *.egg-info
