# Teamline — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/teamline
CONFIG ?= configs/teamline.example.yaml
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/teamline/teamline/internal/app.Version=$(VERSION)
STATICCHECK := $(shell command -v staticcheck 2>/dev/null || echo $$($(GO) env GOPATH)/bin/staticcheck)

.PHONY: help build run test test-race lint bench bench-go fuzz prompts browser-deps phones clean

help: ## show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-10s %s\n",$$1,$$2}'

build: ## build bin/teamline
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/teamline

prompts: ## synthesise the spoken prompt clips into configs/prompts/<lang>/ (espeak-ng, sox)
	@scripts/prompts.sh

browser-deps: ## chromium, node/npm, npm ci from package-lock.json, JsSIP/SIP.js bundles into web/phones/dist/
	@scripts/browser-deps.sh

phones: ## the browser phone pages' SIP libraries (node/npm, bundles), without the test browser
	-@scripts/browser-deps.sh --pages

run: build prompts phones ## start the demo (own PostgreSQL when DATABASE_URL is unset); Ctrl-C stops it
	@scripts/run.sh $(BIN) $(CONFIG)

test: prompts browser-deps ## run all tests against real PostgreSQL, SIPp, baresip and Chromium (race detector on; screenshots in e2e/artifacts/)
	@mkdir -p e2e/artifacts
	TEAMLINE_ARTIFACTS=$(CURDIR)/e2e/artifacts $(GO) test -race -count=1 -timeout 15m ./...

test-race: test ## alias of test (the race detector is always on)

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) ./...

bench: ## call rate vs Kamailio, media relay, browser agents, Go micro-benchmarks (figures only; BENCH_QUICK=1 for < 2 min)
	$(GO) run ./bench/cmd/tlbench $(BENCH_FLAGS)

bench-go: ## only the Go micro-benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./router/ ./sip/ ./media/ ./roster/ ./callback/

fuzz: ## fuzz the network-facing parsers for a short while each
	$(GO) test -run '^$$' -fuzz FuzzParseSDP -fuzztime 30s ./media/

clean: ## remove build output (keeps the local database under .local/)
	rm -rf bin
