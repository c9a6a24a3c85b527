# eximship: see README.md. Targets are thin wrappers over scripts/ and go.
GO ?= go
BIN := bin/eximship

.PHONY: build test test-unit demo stack-up stack-down stack-status fuzz bench lint

build:
	$(GO) build -o $(BIN) ./cmd/eximship

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

demo: build
	scripts/demo

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...
