# Portcullis — every command a user runs is a target here. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The opa CLI, built from the Go module pinned in tools/go.mod (no downloaded binaries).
OPA := $(CURDIR)/.cache/bin/opa
# helm (Helm v4) and k8scheck (the strict Kubernetes decode), from their own module (tools/k8scheck/go.mod).
HELM := $(CURDIR)/.cache/bin/helm
K8SCHECK := $(CURDIR)/.cache/bin/k8scheck
# The container image: its base, made locally from Debian packages and npm's Node binary
# (no registry is needed); IMAGE_BASE=node:20-bookworm-slim uses the official one instead.
IMAGE ?= localhost/portcullis:$(shell node -p 'require("./package.json").version')
IMAGE_BASE ?= localhost/portcullis-base:20
# The host's CA bundle, handed to the build's npm (a build secret, not a layer): a proxy that
# re-signs TLS is then trusted inside the build as outside it.
IMAGE_CA ?= /etc/ssl/certs/ca-certificates.crt
comma := ,
# The bench's load generators, from their own module (tools/load/go.mod) so that opa's
# dependency graph, and so the opa binary, stays as it is.
VEGETA := $(CURDIR)/.cache/bin/vegeta
GHZ := $(CURDIR)/.cache/bin/ghz
# Caddy, the forward-auth gateway of an end-to-end test, from its own module (tools/caddy/go.mod):
# its dependency graph is far larger than opa's and must not move opa's.
CADDY := $(CURDIR)/.cache/bin/caddy
# The third-party programs of `make test-gateways`: an OpenTelemetry Collector built by the
# collector's own builder from tools/otelcol, and Traefik built from its module zip.
OTELCOL := $(CURDIR)/.cache/bin/otelcol-portcullis
TRAEFIK := $(CURDIR)/.cache/bin/traefik
TRAEFIK_VERSION := v3.6.12
TRAEFIK_SRC := .cache/traefik-src/github.com/traefik/traefik/v3@$(TRAEFIK_VERSION)
BUNDLE := bundles/portkey.tar.gz
# Policy sources that go into a bundle (tests stay out); their hash is the bundle revision.
policy_sources = $(shell cd $(1) && find . -type f \( -name '*.rego' ! -name '*_test.rego' -o -name '*.json' \) -printf '%P\n' | LC_ALL=C sort)
revision_of = $(shell cd $(1) && sha256sum $(call policy_sources,$(1)) | sha256sum | cut -c1-16)
REVISION = $(call revision_of,policies)
# `make candidate`: a bundle built from another policies directory (a copy being edited), for replay.
POLICIES ?= policies
CANDIDATE ?= .cache/candidate.tar.gz
# The chart's test runs in chart-check (it needs the helm tools); the image's in image-test (buildah, minutes).
TESTS ?= $(shell find test -name '*.test.ts' ! -path test/deploy/chart.test.ts ! -path test/deploy/image.test.ts -not -path 'test/gateways/*' | LC_ALL=C sort)
# Tests against third-party gateways and collectors, whose builds take long: not in `make test`.
# Every real third-party gateway in one run: the Collector and Traefik (built here only), with
# the Caddy and nginx end-to-end tests that make test runs as well.
GATEWAY_TESTS ?= $(shell find test/gateways -name '*.test.ts' | LC_ALL=C sort) test/gateway/caddy.test.ts test/gateway/nginx.test.ts test/gateway/nginx-path-form.test.ts
NODE_TEST := node --import tsx --test --test-concurrency=1
# The full tier: each file in its own process with a time limit (a hang fails naming the file),
# TEST_JOBS files at a time; every test takes free ports and its own servers.
TEST_JOBS ?= 2
TEST_FILE_TIMEOUT_S ?= 900
# The fast tier: test files that start no process (no redis-server, nginx, opa, browser or
# sidecar process), found by what starting one takes; they run concurrently in a minute.
# Fault tests (test/faults/) belong to the full tier whatever they start.
STARTS_PROCESSES := RedisServer|Cluster|bothStores|spawn|execFile|child_process|nginx|chromium|puppeteer|OPA_BIN|\.listen\(|serve\(|support/(redis|cluster|stores)|workers/support
FAST_TESTS ?= $(shell grep -LE '$(STARTS_PROCESSES)' $(filter-out test/faults/%,$(TESTS)))
NODE_MODULES := node_modules/.package-lock.json
# The matrix tests take well under a second on a quiet machine; opa's default 5 s per test
# is not enough on a loaded one (CI may share the CPU).
OPA_TEST_FLAGS := --timeout 120s

.PHONY: build pack image image-test chart-check helm-tools help run test docs lint fmt fmt-check policy-test policy-fmt bundle candidate bundle-check typecheck unit-test test-fast test-gateways otelcol traefik bench bench-gateway soak bench-audit profile fuzz install opa caddy load-tools screenshots openapi

help: ## List the targets
	@grep -hE '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: $(NODE_MODULES) ## Start the sidecar on :8181 (embedded settings, committed bundle; REDIS_URL=... for Redis)
	node --import tsx src/main.ts

test: policy-test bundle-check typecheck lint fmt-check chart-check unit-test ## Everything: Rego tests, stale-bundle check, types, lint and format, the Helm chart, Node tests

policy-test: $(OPA) ## opa fmt, opa check --strict, opa test at 100% coverage
	$(OPA) fmt --fail --list policies
	$(OPA) check --strict policies
	$(OPA) test $(OPA_TEST_FLAGS) --coverage --threshold 100 policies > .cache/coverage.json || { \
	  $(OPA) test $(OPA_TEST_FLAGS) policies; echo "opa test: coverage below 100% (see .cache/coverage.json)"; exit 1; }
	$(OPA) test $(OPA_TEST_FLAGS) policies

docs: $(NODE_MODULES) ## Regenerate docs/configuration.md (src/config.ts's settings table) and docs/errors.md (src/errors.ts's ERROR_CODES); commit them
	node --import tsx tools/config-doc.ts
	node --import tsx tools/errors-doc.ts

policy-fmt: $(OPA) ## Rewrite policies/ in opa fmt style
	$(OPA) fmt --write policies

bundle: $(OPA) ## Build bundles/portkey.tar.gz from policies/ (commit the result); written beside it, then renamed over it, so a watching sidecar never reads half a bundle
	$(call build_bundle,$(BUNDLE).tmp)
	mv -f $(BUNDLE).tmp $(BUNDLE)
	@echo "built $(BUNDLE) revision $(REVISION)"

candidate: $(OPA) ## Build a candidate bundle from POLICIES=dir (a copy of policies/) into $(CANDIDATE), with the entrypoints of its METADATA and its own revision: replay it (portcullis audit replay --bundle)
	@test -d $(POLICIES) || { echo "POLICIES=$(POLICIES) is not a directory"; exit 1; }
	$(call build_bundle,$(CANDIDATE).tmp,$(POLICIES))
	mv -f $(CANDIDATE).tmp $(CANDIDATE)
	@echo "built $(CANDIDATE) from $(POLICIES) revision $(call revision_of,$(POLICIES))"

bundle-check: $(OPA) ## Fail when the committed bundle does not match policies/
	$(call build_bundle,.cache/bundle-check.tar.gz)
	@cmp -s .cache/bundle-check.tar.gz $(BUNDLE) || { \
	  echo "$(BUNDLE) is stale: policies/ changed since it was built. Run 'make bundle' and commit bundles/."; exit 1; }
	@echo "$(BUNDLE) matches policies/ (revision $(REVISION))"

# $(1): the bundle file; $(2): the policies directory (default policies/).
define build_bundle
	@mkdir -p $(dir $(1))
	# No -e flags: opa build takes the entrypoints from the rules whose METADATA says entrypoint: true.
	cd $(or $(2),policies) && $(OPA) build -t wasm --ignore '*_test.rego' \
	  --revision $(call revision_of,$(or $(2),policies)) -o $(abspath $(1)) .
endef

build: $(NODE_MODULES) ## Compile src/ to dist/ (JavaScript; what the package and the image run)
	npx tsc -p tsconfig.build.json

pack: $(NODE_MODULES) ## npm pack: the installable tarball (builds dist/ first)
	npm pack

image: ## Build the container image with buildah (localhost/portcullis:VERSION; IMAGE_BASE=node:20-bookworm-slim where a registry is reachable)
	@command -v buildah >/dev/null || { echo "make image: buildah is needed (Debian: apt-get install buildah podman debootstrap)"; exit 1; }
	@if [ "$(IMAGE_BASE)" = localhost/portcullis-base:20 ]; then deploy/image/base.sh $(IMAGE_BASE) .cache/image; fi
	buildah bud --isolation chroot --format docker --layers \
	  --build-arg BASE=$(IMAGE_BASE) \
	  --build-arg VERSION=$$(node -p 'require("./package.json").version') \
	  --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  $(if $(wildcard $(IMAGE_CA)),--secret id=ca$(comma)src=$(IMAGE_CA)) \
	  -t $(IMAGE) .
	@echo "built $(IMAGE): $$(buildah inspect --type image --format '{{.FromImageID}}' $(IMAGE) | cut -c1-12), $$(podman image inspect --format '{{.Size}}' $(IMAGE) | numfmt --to=si)B"

image-test: image ## Start the image (buildah run), decide through it, read /health/ready, stop it with SIGTERM
	IMAGE=$(IMAGE) $(NODE_TEST) test/deploy/image.test.ts

chart-check: $(HELM) $(K8SCHECK) ## helm lint + helm template of deploy/helm/portcullis (sidecar and standalone), every object decoded strictly into Kubernetes' types
	HELM=$(HELM) K8SCHECK=$(K8SCHECK) $(NODE_TEST) test/deploy/chart.test.ts

helm-tools: $(HELM) $(K8SCHECK) ## Build the pinned helm and k8scheck into .cache/bin

typecheck: $(NODE_MODULES) ## tsc --noEmit in strict mode; the console's browser JavaScript with checkJs (src/console/ui/tsconfig.json)
	npx tsc --noEmit -p .
	npx tsc --noEmit -p src/console/ui

lint: $(NODE_MODULES) ## Biome's linter over src, test, bench and tools (biome.jsonc); warnings fail
	npx biome lint --error-on-warnings .

fmt: $(NODE_MODULES) ## Rewrite TypeScript and the console's JavaScript in the formatter's style (biome.jsonc)
	npx biome format --write .

fmt-check: $(NODE_MODULES) ## Fail on a file the formatter would change (part of test; make fmt rewrites them)
	npx biome format .

unit-test: $(NODE_MODULES) $(OPA) $(CADDY) ## Node tests (unit, integration with real Redis and opa, end to end through real nginx and Caddy), TEST_JOBS files at a time, TEST_FILE_TIMEOUT_S each
	OPA_BIN=$(OPA) CADDY_BIN=$(CADDY) node --import tsx test/run-files.ts --jobs $(TEST_JOBS) --timeout-s $(TEST_FILE_TIMEOUT_S) $(TESTS)

test-fast: $(NODE_MODULES) ## The in-process tests only (no Redis, nginx, opa or browser), concurrently: a minute
	node --import tsx --test --test-concurrency=4 --test-timeout=120000 $(FAST_TESTS)

test-gateways: $(NODE_MODULES) $(OPA) $(CADDY) $(OTELCOL) $(TRAEFIK) ## Against every real third-party program: an OpenTelemetry Collector (OTLP over HTTP and gRPC), Traefik, Caddy and nginx (first Traefik build ~20-40 min)
	OPA_BIN=$(OPA) CADDY_BIN=$(CADDY) OTELCOL_BIN=$(OTELCOL) TRAEFIK_BIN=$(TRAEFIK) $(NODE_TEST) $(GATEWAY_TESTS)

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

profile: $(NODE_MODULES) ## CPU per decision in-process; per-core req/s, audit on and off, against a bare node:http floor; the per-stage CPU budget of one decision; the top self-time frames (PROFILE_CPU=1 PROFILE_ROUNDS=3 PROFILE_SECONDS=5; taskset, wrk if installed)
	node --import tsx bench/decide-cost.ts
	PROFILE_CPU=$${PROFILE_CPU:-1} node --import tsx bench/profile.ts

fuzz: $(NODE_MODULES) ## Long grammar-based fuzz run over every API (FUZZ_REQUESTS=100000, FUZZ_SEED; prints per-API counts and every violation; not part of test)
	node --import tsx test/fuzz/main.ts

openapi: $(NODE_MODULES) ## Write docs/openapi.json, the OpenAPI document for the committed bundle (commit it; a test fails when it is stale)
	node --import tsx test/contract/openapi-file.ts

screenshots: $(NODE_MODULES) ## Retake the README's console screenshots (docs/console-*.png) in chromium (apt-get install chromium)
	node --import tsx test/console/screenshots.ts

install: $(NODE_MODULES) $(OPA) ## Install npm packages and build the opa CLI

opa: $(OPA) ## Build the pinned opa CLI into .cache/bin

caddy: $(CADDY) ## Build the pinned Caddy (tools/caddy/go.mod) into .cache/bin (a few minutes the first time)

load-tools: $(VEGETA) $(GHZ) ## Build the pinned load generators (vegeta, ghz) into .cache/bin

$(OPA): tools/go.mod tools/go.sum
	@mkdir -p $(dir $@)
	cd tools && go build -o $@ github.com/open-policy-agent/opa
	@$@ version | sed -n 1p

$(CADDY): tools/caddy/go.mod tools/caddy/go.sum
	@mkdir -p $(dir $@)
	cd tools/caddy && go build -o $@ github.com/caddyserver/caddy/v2/cmd/caddy
	@$@ build-info | grep -m1 '^mod'

$(HELM): tools/k8scheck/go.mod tools/k8scheck/go.sum
	@mkdir -p $(dir $@)
	cd tools/k8scheck && go build -o $@ helm.sh/helm/v4/cmd/helm

$(K8SCHECK): tools/k8scheck/go.mod tools/k8scheck/go.sum tools/k8scheck/main.go
	@mkdir -p $(dir $@)
	cd tools/k8scheck && go build -o $@ .

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
	cd $(TRAEFIK_SRC) && go build -ldflags "-X github.com/traefik/traefik/v3/pkg/version.Version=$(TRAEFIK_VERSION)" -o $@ ./cmd/traefik

# npm's own record of the install, rather than the directory: its time changes only when npm installs.
$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@
