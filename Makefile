# CallSnare: run `make help` for the targets.
GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN       := bin/callsnare
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/callsnare/callsnare/internal/cli.Version=$(VERSION)
PG_URL    ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/callsnare
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/callsnare

.PHONY: test
test: ## run every test (PostgreSQL tests skip when it is not reachable)
	CALLSNARE_TEST_POSTGRES='$(PG_URL)' $(GO) test -count=1 ./...

.PHONY: test-race
test-race: ## run every test with the race detector
	CALLSNARE_TEST_POSTGRES='$(PG_URL)' $(GO) test -race -count=1 ./...

.PHONY: bench
bench: ## run the server benchmarks (5 runs each; compare with benchstat)
	CALLSNARE_TEST_POSTGRES='$(PG_URL)' $(GO) test -run '^$$' -bench 'Throughput|LatencyAt1000' -benchtime 3s -count 5 ./internal/server/

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...

.PHONY: run
run: build ## run the server on callsnare.db
	$(BIN) serve

.PHONY: demo
demo: ## run the server with demo orgs, a fake Twilio and a sample missed call
	$(GO) run ./cmd/callsnare serve --demo --db demo.db

.PHONY: clean
clean: ## remove build output and demo databases
	rm -rf bin demo.db demo.db-wal demo.db-shm
