# One entry point for humans and CI. `make test` sets up everything the tests need.
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv

.PHONY: test lint unit-test external-test venv crds sandbox

## test: format check, clippy, every Rust test, and the tests that drive real external clients
test: lint unit-test external-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit-test:
	$(CARGO) test --locked

## crds: regenerate crds/ from the Rust types
crds:
	rm -f crds/*.yaml
	$(CARGO) run --locked --quiet -- crds --output-dir crds

## venv: the pinned Python tools the external-client tests drive (kubectl, requests, PyJWT)
venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-virtualenv -r tests/requirements.txt
	touch $@

BIN := target/debug/witboost-token-operator

external-test: venv
	$(CARGO) build --locked --bin witboost-token-operator
	tests/kubectl/run.sh $(VENV)/bin/kubectl $(BIN)
	tests/kubectl/operator.sh $(VENV)/bin/kubectl $(BIN)
	tests/seed/run.sh $(BIN) $(VENV)/bin/python

## sandbox: build and start the embedded API server with examples/ applied (Ctrl-C stops it)
sandbox:
	$(CARGO) run --locked --quiet -- sandbox --kubeconfig sandbox.kubeconfig --apply examples/
