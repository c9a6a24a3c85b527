// Package frame turns raw input records into Exim log entries: the text the
// Exim parser reads, plus what the transport knows (host, file, time).
//
// It detects, per record, how the text was carried:
//
//   - JSON envelopes from Filebeat or Vector (records starting with '{'):
//     "message", "host.name" or "host", "log.file.path" or "file",
//     "@timestamp" or "timestamp", as nested or dotted keys;
//   - syslog lines: RFC 3164 (with optional <PRI>), RFC 5424, rsyslog's
//     high-precision format, and the "host exim[pid]:" prefix with or without
//     an ISO date; Exim's numbered pieces ("[1/3] ...", "[2\3] ...") are
//     reassembled;
//   - plain Exim log lines, where the reject log's multi-line entries
//     (Envelope-from:, Envelope-to:, the header dump, indented lines,
//     "*** truncated ***") are joined to the line that began them.
//
// No input byte is dropped: every non-empty input line ends up in exactly one
// entry's Original. Problems (broken envelopes, incomplete piece sequences,
// overlong lines) are reported in Entry.Err, never by dropping input.
//
// The package uses only the standard library and imports nothing of the
// pipeline.
package frame

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Dataset is a hint of which Exim log an entry comes from.
type Dataset uint8

// Dataset hints.
const (
	DatasetUnknown Dataset = iota
	DatasetMain
	DatasetReject
	DatasetPanic
)

func (d Dataset) String() string {
	switch d {
	case DatasetMain:
		return "main"
	case DatasetReject:
		return "reject"
	case DatasetPanic:
		return "panic"
	}
	return ""
}

// DatasetFromPath guesses the dataset from a log file name: a base name
// containing "reject" is the reject log, "panic" the panic log, "main" the
// main log (mainlog, exim_mainlog, mainlog.1.gz, ...). When the base name
// tells nothing, a parent directory named like a log does ("rejectlog/0019").
// Anything else is DatasetUnknown.
func DatasetFromPath(path string) Dataset {
	for level := 0; level < 2; level++ {
		base := path
		if i := strings.LastIndexAny(path, `/\`); i >= 0 {
			base, path = path[i+1:], path[:i]
		} else {
			path = ""
		}
		base = strings.ToLower(base)
		switch {
		case level > 0 && !strings.Contains(base, "log"):
			// a directory must be named like a log: "rejectlog/0019"
		case strings.Contains(base, "reject"):
			return DatasetReject
		case strings.Contains(base, "panic"):
			return DatasetPanic
		case strings.Contains(base, "main"):
			return DatasetMain
		}
		if path == "" {
			break
		}
	}
	return DatasetUnknown
}

// Format is how an entry was carried.
type Format uint8

// Formats.
const (
	FormatPlain     Format = iota // Exim's own log file line(s)
	FormatRFC3164                 // "Jun 29 16:04:19 host tag[pid]: ..."
	FormatRFC5424                 // "<22>1 2024-06-29T16:04:19Z host app pid - - ..."
	FormatISOSyslog               // rsyslog high precision or "2024-06-29 16:04:19 host exim[pid]:"
	FormatHostTag                 // "host exim[pid]: ..." without a syslog time
)

func (f Format) String() string {
	switch f {
	case FormatPlain:
		return "plain"
	case FormatRFC3164:
		return "rfc3164"
	case FormatRFC5424:
		return "rfc5424"
	case FormatISOSyslog:
		return "iso-syslog"
	case FormatHostTag:
		return "host-tag"
	}
	return "unknown"
}

// Entry is one Exim log entry. Its byte slices are owned by the framer and
// valid only during the emit callback that delivers it; copy what you keep.
type Entry struct {
	// Text is the Exim text of the entry: its lines joined by '\n', with
	// transport headers (syslog, envelope) and piece markers removed.
	Text []byte
	// Original is the input that made the entry: the input lines joined by
	// '\n' (including syslog headers; a JSON envelope's message lines, not
	// the envelope itself, unless the envelope is broken).
	Original []byte
	// HostName is the host that wrote the log (syslog header, else envelope,
	// else the framer's default).
	HostName string
	// FilePath is the log file (envelope, else the framer's default).
	FilePath string
	// Program is the syslog tag or app-name ("exim"), empty for plain lines.
	Program string
	// PID is the process id from the syslog header, 0 if none.
	PID int
	// Time is the transport's timestamp (syslog header, else envelope), zero
	// if none.
	Time time.Time
	// Dataset is a hint: from the file path, from the syslog severity (info:
	// main, notice: reject, alert and worse: panic), or reject for an entry
	// with reject-log continuation lines. DatasetUnknown if nothing tells.
	Dataset Dataset
	// Format is how the entry was carried (of its first line).
	Format Format
	// Line is the number (1-based) of the input record where the entry
	// begins: the line of a file, or the line inside a message.
	Line int64
	// Seq numbers the entries that begin in the same input record (0, 1, ...):
	// several entries can come from one JSON envelope or one overlong line.
	// (Line, Seq) is unique and deterministic for a given input.
	Seq int
	// Lines lists the input records (line numbers) that made the entry.
	Lines []int64
	// Orphan is true when the entry begins with a continuation line (a
	// reject-log header line, an indented line) that had no entry to join,
	// e.g. because it arrived in a message of its own.
	Orphan bool
	// Err reports a framing problem; the entry is still delivered.
	Err error
}

// Framing problems reported in Entry.Err (wrapped with details).
var (
	ErrEnvelope   = errors.New("invalid JSON envelope")
	ErrIncomplete = errors.New("incomplete syslog piece sequence")
	ErrLineSplit  = errors.New("line too long, split")
	ErrEntrySplit = errors.New("entry too long, split")
)

// Config configures a framer. The zero value is ready to use.
type Config struct {
	// Location is the time zone of syslog timestamps written without an
	// offset (RFC 3164, rsyslog without offset). Default: time.Local.
	Location *time.Location
	// MaxLine is the longest line ReadLines keeps whole; a longer line is cut
	// into pieces of MaxLine bytes, each its own entry with ErrLineSplit.
	// Default: 4 MiB.
	MaxLine int
	// MaxEntry bounds the size of a multi-line entry (plain continuation
	// lines or syslog pieces). A line that would make it larger ends the
	// entry (which gets ErrEntrySplit) and begins a new one. Default: 4 MiB.
	MaxEntry int
	// MaxPending is the number of incomplete syslog piece sequences an
	// Assembler keeps; beyond it the oldest is delivered incomplete.
	// Default: 256.
	MaxPending int
	// HostName and FilePath are the defaults for entries whose transport
	// does not tell (e.g. the file being read). Default: empty.
	HostName string
	FilePath string
	// Dataset is the default hint. Default: DatasetFromPath(FilePath).
	Dataset Dataset
	// Independent makes an Assembler frame every line on its own, as
	// Framer.Message frames one message: no continuation line or syslog
	// piece is joined across lines. It reproduces what a Kafka topic fed
	// one line per message gives. Default: false.
	Independent bool
}

// Defaults.
const (
	DefaultMaxLine    = 4 << 20
	DefaultMaxEntry   = 4 << 20
	DefaultMaxPending = 256
)

// Validate reports configuration errors.
func (c *Config) Validate() error {
	if c.MaxLine < 0 {
		return fmt.Errorf("frame: MaxLine %d is negative", c.MaxLine)
	}
	if c.MaxEntry < 0 {
		return fmt.Errorf("frame: MaxEntry %d is negative", c.MaxEntry)
	}
	if c.MaxPending < 0 {
		return fmt.Errorf("frame: MaxPending %d is negative", c.MaxPending)
	}
	if c.Dataset > DatasetPanic {
		return fmt.Errorf("frame: unknown Dataset %d", c.Dataset)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultMaxLine
	}
	if c.MaxEntry <= 0 {
		c.MaxEntry = DefaultMaxEntry
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.Dataset == DatasetUnknown {
		c.Dataset = DatasetFromPath(c.FilePath)
	}
	return c
}

// IsContinuation reports whether a plain line continues the previous entry
// of an Exim log: reject-log lines "Envelope-from:", "Envelope-to:", the
// header dump ("P Received: ...", "  Date: ...", tab- or space-indented
// header continuations), "*** truncated ***", and indented lines Exim adds
// to multi-line main or panic log entries.
func IsContinuation(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	switch line[0] {
	case ' ', '\t':
		return true
	case 'E':
		return hasPrefix(line, "Envelope-from:") || hasPrefix(line, "Envelope-to:")
	case '*':
		if hasPrefix(line, "*** truncated ***") {
			return true
		}
	}
	return isHeaderDump(line)
}

// isHeaderDump matches "X Name:" where X is one of Exim's spool header flags
// (B C F I P R S T *).
func isHeaderDump(line []byte) bool {
	if len(line) < 4 || line[1] != ' ' {
		return false
	}
	switch line[0] {
	case 'B', 'C', 'F', 'I', 'P', 'R', 'S', 'T', '*':
	default:
		return false
	}
	for i := 2; i < len(line); i++ {
		c := line[i]
		if c == ':' {
			return i > 2
		}
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return false
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}
