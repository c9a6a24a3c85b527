// Package stackcheck holds the integration tests that prove the real stack
// of scripts/stack works the way eximship uses it: Kafka 4.x (KRaft) fed by
// real producers (kcat, rsyslog omkafka, Filebeat-style JSON envelopes from
// kafka-go), consumed in a kafka-go consumer group, and Elasticsearch 8.x
// answering go-elasticsearch/v8 (product check, composable templates, data
// streams created on first write, the aggregations reports rely on).
//
// Every test name ends in Integration and gets its addresses from
// shipper/stacktest: they skip when the stack is not up (or under -short)
// and fail when EXIMSHIP_REQUIRE_INTEGRATION is set.
package stackcheck
