# qg — make targets. `make` alone lists them.

SHELL := bash
.DEFAULT_GOAL := help

DEFAULT_DATABASE_URL := postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
# The server the tests create their database on, and the one the example uses.
TEST_DATABASE_URL := $(or $(QG_TEST_DATABASE_URL),$(DEFAULT_DATABASE_URL))
EXAMPLE_DATABASE_URL := $(or $(QG_DATABASE_URL),$(DEFAULT_DATABASE_URL))

GO ?= go
FUZZTIME ?= 10s
# Extra go test flags for `make test`, e.g. TESTFLAGS=-v or TESTFLAGS='-run TestLock'.
TESTFLAGS ?=
# The modules under contrib/, each with its own go.mod (OpenTelemetry, Prometheus).
CONTRIB := $(patsubst %/go.mod,%,$(wildcard contrib/*/go.mod))

.PHONY: help test test-root test-contrib test-browser example bench fuzz db db-example vet

help: ## list the targets
	@echo 'qg — targets (PostgreSQL is started when needed: see scripts/ensure-postgres.sh)'
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  make %-13s %s\n", $$1, $$2}'
	@echo 'env: QG_TEST_DATABASE_URL (tests), QG_DATABASE_URL (example); default $(DEFAULT_DATABASE_URL)'

db: ## make sure PostgreSQL is reachable at QG_TEST_DATABASE_URL (start it if need be)
	@scripts/ensure-postgres.sh '$(TEST_DATABASE_URL)'

db-example:
	@scripts/ensure-postgres.sh '$(EXAMPLE_DATABASE_URL)'

test: test-root test-contrib test-browser ## run the whole test suite: the root module, each contrib module, the browser tests (go test -race)

test-root: db ## run the root module's tests (qg and its commands)
	$(GO) test -race -count=1 $(TESTFLAGS) ./...

test-contrib: db ## run the tests of each module under contrib/
	@set -e; for m in $(CONTRIB); do echo "== $$m"; (cd "$$m" && $(GO) test -race -count=1 $(TESTFLAGS) ./...); done

test-browser: db ## drive headless chromium against the web dashboard (web/browsertest); screenshots in web/browsertest/screenshots/
	cd web/browsertest && $(GO) test -race -count=1 $(TESTFLAGS) ./...

example: db-example ## run ./example end to end against QG_DATABASE_URL
	$(GO) run ./example

bench: db ## run every benchmark once (-benchtime=1x), so they never rot
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./...

fuzz: db ## run each fuzz target for FUZZTIME (default 10s)
	@FUZZTIME='$(FUZZTIME)' scripts/fuzz.sh

vet: ## gofmt -l (must print nothing) and go vet
	@out="$$(gofmt -l .)"; if [[ -n "$$out" ]]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd web/browsertest && $(GO) vet ./...
	@set -e; for m in $(CONTRIB); do (cd "$$m" && $(GO) vet ./...); done
