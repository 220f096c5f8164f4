# Portcullis — every command a user runs is a target here. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The opa CLI, built from the Go module pinned in tools/go.mod (no downloaded binaries).
OPA := $(CURDIR)/.cache/bin/opa
# The bench's load generators, from their own module (tools/load/go.mod) so that opa's
# dependency graph, and so the opa binary, stays as it is.
VEGETA := $(CURDIR)/.cache/bin/vegeta
GHZ := $(CURDIR)/.cache/bin/ghz
# The third-party programs of `make test-gateways`: an OpenTelemetry Collector built by the
# collector's own builder from tools/otelcol, and Traefik built from its module zip.
OTELCOL := $(CURDIR)/.cache/bin/otelcol-portcullis
TRAEFIK := $(CURDIR)/.cache/bin/traefik
TRAEFIK_VERSION := v3.6.12
TRAEFIK_SRC := .cache/traefik-src/github.com/traefik/traefik/v3@$(TRAEFIK_VERSION)
BUNDLE := bundles/portkey.tar.gz
ENTRYPOINTS := -e portkey/authz/decision -e portkey/authz/allow -e portkey/authz/effective_settings -e portkey/authz/messages
# Policy sources that go into the bundle (tests stay out); their hash is the bundle revision.
POLICY_SOURCES = $(shell find policies -type f \( -name '*.rego' ! -name '*_test.rego' -o -name '*.json' \) | LC_ALL=C sort)
REVISION = $(shell cd policies && sha256sum $(POLICY_SOURCES:policies/%=%) | sha256sum | cut -c1-16)
TESTS ?= $(shell find test -name '*.test.ts' -not -path 'test/gateways/*' | LC_ALL=C sort)
# Tests against third-party gateways and collectors, whose builds take long: not in `make test`.
GATEWAY_TESTS ?= $(shell find test/gateways -name '*.test.ts' | LC_ALL=C sort)
NODE_TEST := node --import tsx --test --test-concurrency=1
NODE_MODULES := node_modules/.package-lock.json
# The matrix tests take well under a second on a quiet machine; opa's default 5 s per test
# is not enough on a loaded one (CI may share the CPU).
OPA_TEST_FLAGS := --timeout 120s

.PHONY: help run test test-gateways otelcol traefik policy-test policy-fmt bundle bundle-check typecheck unit-test bench bench-gateway soak bench-audit profile fuzz install opa load-tools screenshots

help: ## List the targets
	@grep -hE '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: $(NODE_MODULES) ## Start the sidecar on :8181 (embedded settings, committed bundle; REDIS_URL=... for Redis)
	node --import tsx src/main.ts

test: policy-test bundle-check typecheck unit-test ## Everything: Rego tests, stale-bundle check, types, Node tests

policy-test: $(OPA) ## opa fmt, opa check --strict, opa test at 100% coverage
	$(OPA) fmt --fail --list policies
	$(OPA) check --strict policies
	$(OPA) test $(OPA_TEST_FLAGS) --coverage --threshold 100 policies > .cache/coverage.json || { \
	  $(OPA) test $(OPA_TEST_FLAGS) policies; echo "opa test: coverage below 100% (see .cache/coverage.json)"; exit 1; }
	$(OPA) test $(OPA_TEST_FLAGS) policies

policy-fmt: $(OPA) ## Rewrite policies/ in opa fmt style
	$(OPA) fmt --write policies

bundle: $(OPA) ## Build bundles/portkey.tar.gz from policies/ (commit the result)
	$(call build_bundle,$(BUNDLE))
	@echo "built $(BUNDLE) revision $(REVISION)"

bundle-check: $(OPA) ## Fail when the committed bundle does not match policies/
	$(call build_bundle,.cache/bundle-check.tar.gz)
	@cmp -s .cache/bundle-check.tar.gz $(BUNDLE) || { \
	  echo "$(BUNDLE) is stale: policies/ changed since it was built. Run 'make bundle' and commit bundles/."; exit 1; }
	@echo "$(BUNDLE) matches policies/ (revision $(REVISION))"

define build_bundle
	@mkdir -p $(dir $(1))
	cd policies && $(OPA) build -t wasm $(ENTRYPOINTS) --ignore '*_test.rego' \
	  --revision $(REVISION) -o $(abspath $(1)) .
endef

typecheck: $(NODE_MODULES) ## tsc --noEmit in strict mode
	npx tsc --noEmit -p .

unit-test: $(NODE_MODULES) $(OPA) ## Node tests (unit, integration with real Redis and opa, end to end)
	OPA_BIN=$(OPA) $(NODE_TEST) $(TESTS)

test-gateways: $(NODE_MODULES) $(OPA) $(OTELCOL) $(TRAEFIK) ## Against real third-party programs: an OpenTelemetry Collector (OTLP over HTTP and gRPC), Traefik ForwardAuth (first build ~20-40 min)
	OPA_BIN=$(OPA) OTELCOL_BIN=$(OTELCOL) TRAEFIK_BIN=$(TRAEFIK) $(NODE_TEST) $(GATEWAY_TESTS)

otelcol: $(OTELCOL) ## Build the test Collector (otlp receiver; otlphttp and debug exporters) with ocb v0.165.0

traefik: $(TRAEFIK) ## Build Traefik v3.6.12 from its module zip (go install cannot: its go.mod has replace directives)

bench: $(NODE_MODULES) $(OPA) $(VEGETA) $(GHZ) ## Against `opa run --server` and a bare node:http floor: 2 cores, per core (taskset), open loop (vegeta, ghz); needs wrk; not part of test
	@command -v wrk >/dev/null || { echo "make bench: wrk is needed for the per-core runs (Debian: apt-get install wrk)"; exit 1; }
	OPA_BIN=$(OPA) node --import tsx bench/run.ts

soak: $(NODE_MODULES) $(OPA) ## Fixed-rate soak with settings changes and a bundle reload (SOAK_MINUTES=2, SOAK_RATE=200; not part of test)
	OPA_BIN=$(OPA) node --import tsx bench/soak.ts

bench-gateway: $(NODE_MODULES) ## Requests/s and p50/p99 through HTTP ext_authz and gRPC Check (prints a table)
	node --import tsx bench/gateway.ts

bench-audit: $(NODE_MODULES) ## Decision throughput with audit off/memory/Redis, and filtered-page query time over 1M records (AUDIT_BENCH_RECORDS)
	node --import tsx bench/audit.ts

profile: $(NODE_MODULES) ## CPU per decision in-process; per-core req/s against a bare node:http floor; the top self-time frames (PROFILE_CPU=1 PROFILE_ROUNDS=3 PROFILE_SECONDS=5; taskset, wrk if installed)
	node --import tsx bench/decide-cost.ts
	PROFILE_CPU=$${PROFILE_CPU:-1} node --import tsx bench/profile.ts

fuzz: $(NODE_MODULES) ## Long grammar-based fuzz run over every API (FUZZ_REQUESTS=100000, FUZZ_SEED; prints per-API counts and every violation; not part of test)
	node --import tsx test/fuzz/main.ts

screenshots: $(NODE_MODULES) ## Retake the README's console screenshots (docs/console-*.png) in chromium (apt-get install chromium)
	node --import tsx test/console/screenshots.ts

install: $(NODE_MODULES) $(OPA) ## Install npm packages and build the opa CLI

opa: $(OPA) ## Build the pinned opa CLI into .cache/bin

load-tools: $(VEGETA) $(GHZ) ## Build the pinned load generators (vegeta, ghz) into .cache/bin

$(OPA): tools/go.mod tools/go.sum
	@mkdir -p $(dir $@)
	cd tools && go build -o $@ github.com/open-policy-agent/opa
	@$@ version | sed -n 1p

$(VEGETA): tools/load/go.mod tools/load/go.sum
	@mkdir -p $(dir $@)
	cd tools/load && go build -o $@ github.com/tsenart/vegeta/v12

$(GHZ): tools/load/go.mod tools/load/go.sum
	@mkdir -p $(dir $@)
	cd tools/load && go build -o $@ github.com/bojand/ghz/cmd/ghz

$(OTELCOL): tools/otelcol/go.mod tools/otelcol/go.sum tools/otelcol/builder.yaml
	@mkdir -p $(dir $@)
	cd tools/otelcol && go tool builder --config builder.yaml
	install -m 755 .cache/otelcol/otelcol-portcullis $@

# The module zip is checked against go.sum's database by `go mod download`; it is built as the
# main module, so its own replace directives apply.
$(TRAEFIK):
	@mkdir -p $(dir $@)
	rm -rf .cache/traefik-src && mkdir -p .cache/traefik-src
	cd .cache/traefik-src && unzip -q "$$(go mod download -json github.com/traefik/traefik/v3@$(TRAEFIK_VERSION) | sed -n 's/^[[:space:]]*"Zip": "\(.*\)",$$/\1/p')"
	chmod -R u+w .cache/traefik-src
	cd $(TRAEFIK_SRC) && go build -o $@ ./cmd/traefik

# npm's own record of the install, rather than the directory: its time changes only when npm installs.
$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@
