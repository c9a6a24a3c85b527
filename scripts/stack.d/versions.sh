# Pinned versions and checksums of everything scripts/stack downloads.
# Sourced by scripts/stack and scripts/install-deps. Change a version only
# together with its checksum (and kafka-jars.sha256, see README in STACK.md).

# Apache Kafka broker (KRaft), Maven Central org.apache.kafka:kafka_2.13.
# The full runtime classpath is resolved by kafka-pom.xml; every jar is
# checked against kafka-jars.sha256.
KAFKA_VERSION=4.1.1

# Elasticsearch integ-test-zip from Maven Central:
# org.elasticsearch.distribution.integ-test-zip:elasticsearch:<v>:zip
ES_VERSION=8.19.7
ES_ZIP_SHA256=cb7f86fb6e68e85ef6f531ae5c68458ecfe42371150403b22b2ed21381581cbb

# maven-dependency-plugin used for downloads (Maven 3.8's default is too old).
MVN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
