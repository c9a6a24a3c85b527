package exim_test

// Golden tests over logs written by a real Exim (Debian exim4-daemon-light
// 4.96) driven by shipper/exim/eximlab: see testdata/real/README.md. The
// goldens are regenerated with
//
//	go test ./shipper/exim -run RealExim -update
//
// and must be reviewed (git diff) before they are committed.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim"
)

func init() {
	// Another test file of the package may define -update too.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files from the current parser output")
	}
}

func updateGoldens() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const realDir = "testdata/real"

// realHost is the host.name of the captures: eximlab's primary_hostname,
// as a shipper would set it (from the envelope, the syslog header, the
// exim.host setting or the Kafka key).
const realHost = "mx.example.org"

// realLogs are the log files of a capture and their event.dataset.
var realLogs = []struct{ name, dataset string }{
	{"mainlog", "exim.main"},
	{"rejectlog", "exim.reject"},
	{"paniclog", "exim.panic"},
}

// isTimestamp reports whether b starts with "YYYY-MM-DD HH:MM:SS", the start
// of every Exim log entry; other lines continue the previous entry (the
// header dump of reject-log entries).
func isTimestamp(b []byte) bool {
	if len(b) < 19 {
		return false
	}
	for i, c := range b[:19] {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != ' ' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// logEntries splits an Exim log into entries, joining continuation lines
// with '\n'.
func logEntries(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		if len(out) > 0 && !isTimestamp(line) {
			last := append(out[len(out)-1], '\n')
			out[len(out)-1] = append(last, line...)
			continue
		}
		out = append(out, append([]byte(nil), line...))
	}
	return out
}

// parsedEntry is one entry with its document.
type parsedEntry struct {
	original string
	action   string
	doc      []byte
}

// parseLog parses every entry of a log file's content.
func parseLog(t *testing.T, content []byte, dataset string) []parsedEntry {
	t.Helper()
	p := exim.NewParser(exim.Options{Location: time.UTC})
	var r exim.Record
	var out []parsedEntry
	for _, e := range logEntries(content) {
		r.Meta = exim.Meta{Dataset: dataset, HostName: realHost}
		p.Parse(e, &r)
		doc := r.AppendJSON(nil)
		if !json.Valid(doc) {
			t.Errorf("invalid JSON for %q: %s", e, doc)
		}
		out = append(out, parsedEntry{original: string(e), action: r.Action, doc: doc})
	}
	return out
}

// capturedEntry is a parsed entry of a captured log, with where it came
// from ("variant/log").
type capturedEntry struct {
	parsedEntry
	where string
}

// capturedEntries parses every captured log of every variant.
func capturedEntries(t *testing.T) []capturedEntry {
	t.Helper()
	var out []capturedEntry
	for _, dir := range variantDirs(t) {
		for _, lf := range realLogs {
			content, err := os.ReadFile(filepath.Join(dir, lf.name))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range parseLog(t, content, lf.dataset) {
				out = append(out, capturedEntry{e, filepath.Base(dir) + "/" + lf.name})
			}
		}
	}
	return out
}

func variantDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(realDir, "*", "mainlog"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no captured logs under %s (go run ./cmd/eximlab capture -out shipper/exim/%s): %v", realDir, realDir, err)
	}
	for i, d := range dirs {
		dirs[i] = filepath.Dir(d)
	}
	sort.Strings(dirs)
	return dirs
}

// TestRealEximGolden parses every entry of every captured log and compares
// the documents with the reviewed goldens.
func TestRealEximGolden(t *testing.T) {
	for _, dir := range variantDirs(t) {
		for _, lf := range realLogs {
			path := filepath.Join(dir, lf.name)
			content, err := os.ReadFile(path)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Run(filepath.Base(dir)+"/"+lf.name, func(t *testing.T) {
				entries := parseLog(t, content, lf.dataset)
				var got bytes.Buffer
				for _, e := range entries {
					got.Write(e.doc)
					got.WriteByte('\n')
				}
				golden := path + ".golden.jsonl"
				if updateGoldens() {
					if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (regenerate with -update and review)", err)
				}
				compareDocs(t, entries, bytes.Split(bytes.TrimSuffix(want, []byte("\n")), []byte("\n")))
			})
		}
	}
}

func compareDocs(t *testing.T, got []parsedEntry, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d entries, golden has %d", len(got), len(want))
	}
	bad := 0
	for i := 0; i < len(got) && i < len(want); i++ {
		if bytes.Equal(got[i].doc, want[i]) {
			continue
		}
		bad++
		if bad <= 5 {
			t.Errorf("entry %d differs\n  line: %s\n  got:  %s\n  want: %s", i+1, firstLine(got[i].original), got[i].doc, want[i])
		}
	}
	if bad > 5 {
		t.Errorf("... %d entries differ in all", bad)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// realActions is the review of the fixtures, independent of the goldens:
// an entry whose first line contains the substring must get one of the
// actions (first matching row wins). Every row must match at least one
// entry of some capture, so the fixtures keep covering it.
var realActions = []struct {
	substr  string
	actions []string
}{
	{"daemon started", []string{"daemon-start"}},
	{"SIGHUP received", []string{"daemon-sighup"}},
	{"Start queue run", []string{"queue-run-start"}},
	{"End queue run", []string{"queue-run-end"}},
	{" cwd=", []string{"cwd"}},
	{" DKIM: ", []string{"dkim"}},
	{" <= <> R=", []string{"message-arrival"}},
	{" <= <> H=", []string{"message-arrival"}},
	{" <= ", []string{"message-arrival"}},
	{" (= ", []string{"message-fake-reject"}},
	{" => :blackhole: ", []string{"delivery"}},
	{" => |", []string{"delivery"}},
	{" => /", []string{"delivery"}},
	{" => ", []string{"delivery"}},
	{" -> ", []string{"delivery-additional"}},
	{" >> ", []string{"delivery-cutthrough"}},
	{" *> ", []string{"delivery-suppressed"}},
	{" == ", []string{"delivery-deferred"}},
	{" ** ", []string{"delivery-failed"}},
	{" Completed", []string{"message-completed"}},
	{"Frozen (delivery error message)", []string{"message-frozen"}},
	{"Unfrozen by forced delivery", []string{"message-unfrozen"}},
	{"]:1 Connection refused", []string{"host-error"}},
	{"] Connection refused", []string{"host-error"}},
	{"temporarily rejected RCPT", []string{"rcpt-temp-rejected"}},
	{"rejected RCPT", []string{"rcpt-rejected"}},
	{"sender verify fail for", []string{"sender-verify-failed"}},
	{"sender verify defer for", []string{"sender-verify-deferred"}},
	{"rejected MAIL", []string{"mail-rejected"}},
	{"rejected after DATA", []string{"data-rejected"}},
	{"rejected DATA", []string{"data-rejected"}},
	{"rejected EHLO or HELO", []string{"helo-rejected"}},
	{"syntactically invalid argument", []string{"helo-invalid"}},
	{`temporarily rejected connection in "connect" ACL`, []string{"connection-temp-rejected"}},
	{`rejected connection in "connect" ACL`, []string{"connection-rejected", "connection-dropped"}},
	{"closed by DROP in ACL", []string{"connection-dropped", "smtp-connection-closed"}},
	{"SMTP protocol synchronization error", []string{"smtp-sync-error"}},
	{"SMTP syntax error in", []string{"smtp-protocol-error"}},
	{"SMTP protocol error in", []string{"smtp-protocol-error"}},
	{"SMTP command timeout", []string{"smtp-command-timeout"}},
	{"SMTP data timeout", []string{"smtp-data-timeout", "smtp-command-timeout"}},
	{"dropped: too many", []string{"smtp-too-many"}},
	{"refused: too many connections", []string{"smtp-too-many", "connection-rejected"}},
	{"no host name found for IP address", []string{"reverse-dns-failed"}},
	{"authenticator failed", []string{"auth-failed"}},
	{"TLS error on connection", []string{"tls-error"}},
	{"(TCP/IP connection count", []string{"smtp-connection"}},
	{" lost while reading message data", []string{"smtp-connection-lost"}},
	{" lost D=", []string{"smtp-connection-lost"}},
	{"no MAIL in SMTP connection", []string{"smtp-no-mail"}},
	{"incomplete transaction", []string{"smtp-incomplete-transaction"}},
	{"closed by QUIT", []string{"smtp-connection-closed"}},
	{"closed by EOF", []string{"smtp-connection-closed"}},
	{"rejected VRFY", []string{"command-rejected"}},
	{"exim user lost privilege for using -C option", []string{"privilege-dropped"}},
}

// TestRealEximActions checks the action of every captured entry against the
// review table and that no real line is left "unknown" except the ones
// listed here with the reason.
func TestRealEximActions(t *testing.T) {
	// Lines Exim wrote that carry no recognisable event; "unknown" (or
	// "panic" in the panic log) is right for them.
	freeText := []string{
		"eximlab: panic log entry requested by", // ACL logwrite text
	}
	used := make([]int, len(realActions))
	for _, e := range capturedEntries(t) {
		line := firstLine(e.original)
		matched := false
		for i, row := range realActions {
			if !strings.Contains(line, row.substr) {
				continue
			}
			matched = true
			used[i]++
			if !contains(row.actions, e.action) {
				t.Errorf("%s: action %q, want one of %v\n  %s", e.where, e.action, row.actions, line)
			}
			break
		}
		if matched {
			continue
		}
		free := false
		for _, s := range freeText {
			free = free || strings.Contains(line, s)
		}
		switch {
		case free && (e.action == "unknown" || e.action == "panic" || e.action == "acl-warning" || e.action == "message-info"):
		case free:
			t.Logf("%s: free text got action %q: %s", e.where, e.action, line)
		default:
			t.Errorf("%s: no review row for (action %q): %s", e.where, e.action, line)
		}
	}
	for i, n := range used {
		if n == 0 {
			t.Errorf("no captured entry contains %q any more: recapture or drop the row", realActions[i].substr)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// flatten returns the leaves of a JSON document as dotted-path -> value.
func flatten(doc []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if mm, ok := v.(map[string]any); ok {
			for k, vv := range mm {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, vv)
			}
			return
		}
		out[prefix] = v
	}
	walk("", m)
	return out, nil
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = fmt.Sprint(e)
		}
		return "[" + strings.Join(s, " ") + "]"
	default:
		return fmt.Sprint(x)
	}
}
