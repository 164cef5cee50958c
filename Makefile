# tradeflow: the two commands are `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install whenever the dependency pins change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv/ and install tradeflow with its test tools

run: install  ## run the whole pipeline on the embedded (file) backend; Ctrl-C stops it
	$(BIN)/tradeflow run

test: install  ## run the whole test suite
	$(BIN)/python -m pytest

bench: install  ## run the benchmarks (ratios against a baseline run side by side)
	$(BIN)/python -m benchmarks

clean:  ## remove the virtualenv and the default data directory
	rm -rf $(VENV) .tradeflow build *.egg-info
