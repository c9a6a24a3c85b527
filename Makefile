# eximship: see README.md. Targets are thin wrappers over scripts/ and go.
GO ?= go
BIN := bin/eximship

.PHONY: build install release-snapshot test test-unit test-stack demo stack-up stack-down stack-status stack-logs stack-reset stack-fetch deps fuzz bench lint

build:
	$(GO) build -o $(BIN) ./cmd/eximship

# go install into GOBIN (or GOPATH/bin), stamped with the commit.
install:
	$(GO) install ./cmd/eximship

# Release archives and the .deb with GoReleaser, as a snapshot (nothing
# published), checked; see scripts/release-snapshot.
release-snapshot:
	scripts/release-snapshot

# Unit tests everywhere; integration tests against the real Kafka and
# Elasticsearch (scripts/stack) and a real Exim when they can run here.
test:
	scripts/test

test-unit:
	$(GO) test -short ./...

stack-up:
	scripts/stack up

stack-down:
	scripts/stack down

stack-status:
	scripts/stack status

stack-logs:
	scripts/stack logs

# Stop the stack and delete its data (topics, indices, data streams).
stack-reset:
	scripts/stack reset

# Download and verify the pinned Kafka/Elasticsearch artifacts only.
stack-fetch:
	scripts/stack fetch

# Debian packages and Maven artifacts for a fresh machine.
deps:
	scripts/install-deps

# Only the stack's own integration tests (needs scripts/stack up).
test-stack:
	$(GO) test -count=1 -v ./shipper/stackcheck/

demo: deps build
	scripts/demo

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...
