// Package e2e holds the end-to-end proofs of `eximship run` (issue 4): Go
// integration tests that build the real eximship binary, run it as a
// subprocess with a generated configuration against the real Kafka and
// Elasticsearch of scripts/stack, and check what ends up in Elasticsearch,
// in the dead letters and in the consumer group's committed offsets.
//
// The tests (names ending in Integration) skip under -short and skip, or fail
// when EXIMSHIP_REQUIRE_INTEGRATION is set, without the stack
// (shipper/stacktest). Every test has its own topic (6 partitions), consumer
// group and data stream namespace, and deletes its data streams at the end.
//
// The input is a real Exim main log made by shipper/exim/eximlab (a real Exim
// daemon fed with SMTP sessions), cached under
// ${XDG_CACHE_HOME:-~/.cache}/eximship/e2e: a few thousand real entries,
// replicated with renumbered message ids and shifted times to 50,000+ lines
// (see corpus_test.go).
//
// TestElasticsearchDownIntegration stops Elasticsearch for 30 s. It does so
// on a private node (scripts/stack es-up with its own state directory and
// ports), started in the background by TestMain, so that the integration
// tests of other packages, which `go test ./...` runs at the same time, never
// see the shared node go away.
package e2e
