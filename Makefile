# One entry point for humans and CI. `make test` sets up everything the tests need.
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv

.PHONY: test lint unit-test external-test e2e-cluster kubeconfig-given e2e-standin build venv crds sandbox

# Cluster mode is opted into per target (e2e-cluster), never inherited from the environment.
unexport WITBOOST_E2E_CLUSTER

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

## venv: the pinned Python tools the external-client tests drive (kubectl, Helm, requests, PyJWT)
venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-virtualenv -r tests/requirements.txt
	touch $@

BIN := target/debug/witboost-token-operator
KUBECTL ?= $(VENV)/bin/kubectl

# The binary `cargo test` builds for its own tests: one build with one feature set (dev-dependencies
# included) serves `cargo test` and the external-client scripts alike.
build:
	$(CARGO) test --locked --no-run

external-test: venv build
	tests/kubectl/run.sh $(VENV)/bin/kubectl $(BIN)
	tests/kubectl/api.sh $(VENV)/bin/kubectl $(BIN)
	tests/kubectl/imperative.sh $(VENV)/bin/kubectl $(BIN)
	tests/helm/run.sh $(BIN) $(VENV)/bin/python
	tests/kubectl/operator.sh $(VENV)/bin/kubectl $(BIN)
	tests/seed/run.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python
	tests/e2e/standin.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python

## e2e-cluster: the operator-level end-to-end tests against the cluster of $KUBECONFIG, in a
## throwaway namespace (opt-in; KUBECTL=kubectl to use your own)
e2e-cluster: kubeconfig-given venv build
	WITBOOST_E2E_CLUSTER=1 tests/kubectl/operator.sh $(KUBECTL) $(BIN)
	WITBOOST_E2E_CLUSTER=1 tests/seed/run.sh $(KUBECTL) $(BIN) $(VENV)/bin/python

kubeconfig-given:
	@test -n "$$KUBECONFIG" || { echo "make e2e-cluster needs KUBECONFIG naming the cluster to test against" >&2; exit 2; }

## e2e-standin: e2e-cluster against a bare sandbox standing in for the cluster (part of external-test)
e2e-standin: venv build
	tests/e2e/standin.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python

## sandbox: build and start the embedded API server with examples/ applied (Ctrl-C stops it)
sandbox: build
	$(BIN) sandbox --kubeconfig sandbox.kubeconfig --apply examples/
