// Package exim parses Exim's main, reject and panic log entries into typed
// records and encodes them as ECS documents. It uses only the standard
// library, scans bytes by hand (no regexp) and imports nothing of the
// pipeline.
package exim

import (
	"time"
)

// Options configure a Parser.
type Options struct {
	// Location is the time zone of timestamps written without an offset.
	// Default: time.Local.
	Location *time.Location
}

// Parser parses Exim log entries. It is not safe for concurrent use; use one
// per goroutine.
type Parser struct {
	loc *time.Location
}

// NewParser returns a Parser for o.
func NewParser(o Options) *Parser {
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	return &Parser{loc: loc}
}

// Meta is what the transport knows about an entry; the framing layer sets it.
type Meta struct {
	// HostName is the host that wrote the log (host.name).
	HostName string
	// FilePath is the log file the entry came from (log.file.path).
	FilePath string
	// Time is the transport's timestamp (syslog header or envelope), used
	// when the entry carries none of its own.
	Time time.Time
}

// Record is one parsed Exim log entry. Byte-slice fields point into the
// entry given to Parse and are valid only as long as it is.
type Record struct {
	// Action is the event.action value, "unknown" when no rule matched.
	Action string
	// Time is the entry's timestamp.
	Time time.Time
	// Original is the whole entry as given (event.original).
	Original []byte
	// Err is set when the entry could not be parsed completely
	// (error.message); the record then holds what could be parsed.
	Err error
	// Meta comes from the transport, not from the entry.
	Meta Meta
}

// Reset clears r for reuse, keeping allocated capacity.
func (r *Record) Reset() { *r = Record{} }

// Parse parses one entry (a log line, or a reject-log entry whose lines are
// joined by '\n') into r, which it resets first except for r.Meta. It never
// panics and never drops the entry: problems are reported in r.Err.
func (p *Parser) Parse(entry []byte, r *Record) {
	meta := r.Meta
	r.Reset()
	r.Meta = meta
	r.Original = entry
	r.Action = "unknown"
	r.Time = meta.Time
}

// AppendJSON appends r as one ECS JSON document (no trailing newline).
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"@timestamp":"`...)
	dst = r.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `","event":{"action":"`...)
	dst = append(dst, r.Action...)
	dst = append(dst, `"}}`...)
	return dst
}
