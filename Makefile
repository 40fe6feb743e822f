# CallSnare: run `make help` for the targets.
GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN       := bin/callsnare
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/callsnare/callsnare/internal/cli.Version=$(VERSION)
PG_URL    ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
ADDR      ?= 127.0.0.1:8080
# Where `make install` puts the binary: Go's own bin directory unless told otherwise.
PREFIX    ?= $(shell $(GO) env GOPATH 2>/dev/null || echo $$HOME/go)
# The packages that run goroutines against each other, for the race detector.
RACE_PKGS := ./internal/store/... ./internal/server/... ./internal/jobs/... ./internal/service/... ./internal/replay/... ./internal/simulate/...

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/callsnare
	@if [ ! -x $(BIN) ]; then echo "building $(BIN): the first build downloads the modules and compiles them, about 2 minutes on an idle 2-core machine, more on a busy one; later builds take seconds"; fi
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/callsnare

.PHONY: install
install: build ## copy bin/callsnare to $(PREFIX)/bin (PREFIX=... to choose)
	@mkdir -p '$(PREFIX)/bin'
	install -m 0755 $(BIN) '$(PREFIX)/bin/callsnare'
	@case ":$$PATH:" in *':$(PREFIX)/bin:'*) ;; *) echo "$(PREFIX)/bin is not on your PATH: add it with  export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

.PHONY: test
test: ## run every test; says which tests skipped and why (PostgreSQL ones when it is not reachable)
	@json=$$(mktemp); \
	CALLSNARE_TEST_POSTGRES='$(PG_URL)' $(GO) tool gotestsum --format pkgname --format-icons text --hide-summary skipped \
		--jsonfile $$json -- -count=1 ./...; status=$$?; \
	$(GO) run ./scripts/skipsummary < $$json; rm -f $$json; exit $$status

.PHONY: test-race
test-race: ## run the tests of the concurrent packages with the race detector
	CALLSNARE_TEST_POSTGRES='$(PG_URL)' $(GO) test -race -count=1 $(RACE_PKGS)

.PHONY: bench
bench: ## run the server benchmarks (5 runs each; compare with benchstat)
	CALLSNARE_TEST_POSTGRES='$(PG_URL)' $(GO) test -run '^$$' -bench 'Throughput|LatencyAt1000' -benchtime 3s -count 5 ./internal/server/

# A count, not a duration: with a duration, Go's fuzz coordinator (before Go 1.27,
# golang.org/issue/75804) can fail a target with a bare "context deadline exceeded" when
# the time runs out while a worker is busy, with no failing input. A count has no deadline
# to race; on this machine each target takes 1 to 15 seconds.
FUZZTIME  ?= 50000x
# Each fuzz target of untrusted input, as package:target (go test fuzzes one at a time).
FUZZ_TARGETS := \
	./internal/twilio:FuzzSignature ./internal/twilio:FuzzCheckParams ./internal/twilio:FuzzParseForm \
	./internal/callflow:FuzzClassifyKeyword ./internal/callflow:FuzzNormalizePhone \
	./internal/server:FuzzIsMediaType ./internal/cleantext:FuzzString \
	./internal/logview:FuzzPayloadPrinters ./internal/stripe:FuzzParseEvent ./internal/stripe:FuzzVerify

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (50000x: executions); failures are kept under testdata/fuzz as seeds
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*})"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

.PHONY: lint
lint: ## gofmt, go vet and staticcheck (the version go.mod pins)
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

.PHONY: run
run: build ## run the server on callsnare.db
	$(BIN) serve

.PHONY: demo
demo: build ## build, then serve demo orgs with a fake Twilio and play a missed call (ADDR=127.0.0.1:8080)
	$(BIN) serve --demo --db demo.db --addr '$(ADDR)'

.PHONY: clean
clean: ## remove build output and demo databases
	rm -rf bin demo.db demo.db-wal demo.db-shm
