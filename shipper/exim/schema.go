package exim

// Field describes one field of the documents AppendJSON writes: its dotted
// name and the Elasticsearch type it should be mapped with. TestFields
// checks that every field the parser emits (over the fixtures and the
// corpus) is listed here with a matching JSON kind, so that the index
// template (mapping/) can be checked against this list.
type Field struct {
	Name string
	// Type is the Elasticsearch field type: keyword, wildcard, text,
	// match_only_text, long, double, boolean, date, ip.
	Type string
	// Array is true for fields written as JSON arrays.
	Array bool
}

var fieldList = []Field{
	{"@timestamp", "date", false},
	{"message", "match_only_text", false},
	{"event.action", "keyword", false},
	{"event.category", "keyword", true},
	{"event.type", "keyword", true},
	{"event.outcome", "keyword", false},
	{"event.kind", "keyword", false},
	{"event.dataset", "keyword", false},
	{"event.duration", "long", false},
	{"event.original", "keyword", false},
	{"error.message", "match_only_text", false},
	{"process.name", "keyword", false},
	{"process.pid", "long", false},
	{"host.name", "keyword", false},
	{"log.file.path", "keyword", false},
	{"source.ip", "ip", false},
	{"source.port", "long", false},
	{"source.domain", "keyword", false},
	{"source.address", "keyword", false},
	{"destination.ip", "ip", false},
	{"destination.port", "long", false},
	{"destination.domain", "keyword", false},
	{"destination.address", "keyword", false},
	{"related.ip", "ip", true},
	{"related.hosts", "keyword", true},
	{"email.from.address", "keyword", true},
	{"email.to.address", "keyword", true},
	{"email.local_id", "keyword", false},
	{"email.message_id", "wildcard", false},
	{"email.subject", "keyword", false},
	{"tls.cipher", "keyword", false},
	{"tls.version", "keyword", false},
	{"tls.version_protocol", "keyword", false},
	{"tls.client.subject", "keyword", false},
	{"tls.client.server_name", "keyword", false},
	{"tls.server.subject", "keyword", false},
	{"user.name", "keyword", false},
	{"exim.flag", "keyword", false},
	{"exim.sender.null", "boolean", false},
	{"exim.sender.domain", "keyword", false},
	{"exim.sender.registered_domain", "keyword", false},
	{"exim.sender.local", "boolean", false},
	{"exim.sender.admin", "boolean", false},
	{"exim.sender.forged_local", "boolean", false},
	{"exim.rcpt.address", "keyword", false},
	{"exim.rcpt.parent", "keyword", false},
	{"exim.rcpt.domain", "keyword", false},
	{"exim.rcpt.registered_domain", "keyword", false},
	{"exim.rcpt.local", "boolean", false},
	{"exim.smtp.helo", "keyword", false},
	{"exim.smtp.command", "keyword", false},
	{"exim.smtp.commands", "keyword", false},
	{"exim.smtp.confirmation", "match_only_text", false},
	{"exim.smtp.connection_id", "keyword", false},
	{"exim.smtp.connection_count", "long", false},
	{"exim.host.name", "keyword", false},
	{"exim.host.address", "keyword", false},
	{"exim.host.continued", "boolean", false},
	{"exim.proxy.address", "keyword", false},
	{"exim.proxy.port", "long", false},
	{"exim.protocol", "keyword", false},
	{"exim.return_path", "keyword", false},
	{"exim.size", "long", false},
	{"exim.bounce_ref", "keyword", false},
	{"exim.router", "keyword", false},
	{"exim.transport", "keyword", false},
	{"exim.shadow_transport", "keyword", false},
	{"exim.auth.authenticator", "keyword", false},
	{"exim.auth.id", "keyword", false},
	{"exim.auth.sender", "keyword", false},
	{"exim.user", "keyword", false},
	{"exim.tls.cipher_suite", "keyword", false},
	{"exim.tls.certificate_verified", "keyword", false},
	{"exim.queue_time", "double", false},
	{"exim.delivery_time", "double", false},
	{"exim.receive_time", "double", false},
	{"exim.duration", "double", false},
	{"exim.m8s", "keyword", false},
	{"exim.pipelining", "keyword", false},
	{"exim.chunking", "boolean", false},
	{"exim.prdr", "boolean", false},
	{"exim.tfo", "boolean", false},
	{"exim.dnssec", "boolean", false},
	{"exim.dkim", "keyword", false},
	{"exim.protocol_sequence", "keyword", false},
	{"exim.queue", "keyword", false},
	{"exim.errno", "keyword", false},
	{"exim.reason", "match_only_text", false},
	{"exim.temporary", "boolean", false},
	{"exim.acl", "keyword", false},
	{"exim.version", "keyword", false},
	{"exim.cwd", "keyword", false},
	{"exim.args", "keyword", false},
	{"exim.reject.envelope_from", "keyword", false},
	{"exim.reject.envelope_to", "keyword", false},
	{"exim.reject.headers", "match_only_text", false},
	{"exim.reject.truncated", "boolean", false},
}

// Fields returns every field the parser can write, with its mapping type.
func Fields() []Field {
	out := make([]Field, len(fieldList))
	copy(out, fieldList)
	return out
}
