package mapping_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/exim"
	"github.com/eximship/eximship/shipper/process"
)

// corpusDir is the public Exim corpus (never copied into the repository).
func corpusDir() string {
	if d := os.Getenv("EXIMSHIP_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "corpus", "public")
}

// fixtureDocs encodes, through the real processor (framing, parser, data
// stream fields, error documents), every fixture line of shipper/exim, the
// real-Exim logs of its testdata, some poison input, and the public corpus
// when present.
func fixtureDocs(t testing.TB, ns string) (docs []shipper.Doc, sources map[string]int) {
	t.Helper()
	return fixtureDocsHost(t, ns, "")
}

// fixtureDocsHost is fixtureDocs with a host.name fallback (exim.host) for
// the entries whose transport names no host.
func fixtureDocsHost(t testing.TB, ns, host string) (docs []shipper.Doc, sources map[string]int) {
	t.Helper()
	sources = map[string]int{}
	procs := map[string]*process.Exim{}
	proc := func(dataset string) *process.Exim {
		if p := procs[dataset]; p != nil {
			return p
		}
		p, err := process.New(process.Config{Namespace: ns, Location: time.UTC, Dataset: dataset, Host: host})
		if err != nil {
			t.Fatal(err)
		}
		procs[dataset] = p
		return p
	}
	offset := int64(0)
	add := func(source, dataset string, msg []byte) {
		offset++
		part := 0
		if source == "corpus" {
			part = 1
		}
		var err error
		n := len(docs)
		docs, err = proc(dataset).Process(shipper.Message{
			Position: shipper.Position{Topic: "fixtures", Partition: part, Offset: offset},
			Value:    msg, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		}, docs)
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		sources[source] += len(docs) - n
	}
	datasetOf := func(name string) string {
		switch {
		case strings.Contains(name, "reject"):
			return "reject"
		case strings.Contains(name, "panic"):
			return "panic"
		}
		return "" // detected
	}
	// cases.txt: "> " lines, consecutive ones form one entry.
	cases, err := os.ReadFile("../shipper/exim/testdata/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	var entry []string
	flush := func() {
		if len(entry) > 0 {
			add("cases.txt", "", []byte(strings.Join(entry, "\n")))
			entry = entry[:0]
		}
	}
	for _, l := range strings.Split(string(cases), "\n") {
		if s, ok := strings.CutPrefix(l, "> "); ok {
			entry = append(entry, s)
			continue
		}
		flush()
	}
	flush()
	// Whole log files (reject-log entries span lines), in chunks that
	// start at a timestamped line.
	addFile := func(source, path string) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var chunk []byte
		lines := 0
		for _, l := range bytes.SplitAfter(raw, []byte("\n")) {
			if lines >= 200 && len(l) > 0 && l[0] >= '0' && l[0] <= '9' {
				add(source, datasetOf(path), chunk)
				chunk, lines = nil, 0
			}
			chunk = append(chunk, l...)
			lines++
		}
		if len(chunk) > 0 {
			add(source, datasetOf(path), chunk)
		}
	}
	real, _ := filepath.Glob("../shipper/exim/testdata/real/*/*log")
	for _, f := range real {
		addFile("testdata/real", f)
	}
	// Envelopes and poison input.
	for _, m := range []string{
		`{"@timestamp":"2026-01-02T03:04:05.000Z","message":"2026-01-02 03:04:05 1sDcEe-000000004BC-0oYZ Completed","host":{"name":"mx1"},"log":{"file":{"path":"/var/log/exim4/mainlog"}}}`,
		`{"message":"2026-01-02 03:04:05 H=(x) [192.0.2.1] rejected EHLO","host":{"name":"mx1"},"log":{"file":{"path":"/var/log/exim4/rejectlog"}}}`,
		`{"message": broken json`,
		"<22>Jun 29 16:04:19 mx exim[1234]: 2024-06-29 16:04:19 1sDcEe-000000004BC-0oYZ Completed",
		"bin\x00ary\xff\xfe garbage",
		"2026-01-02 03:04:05 " + strings.Repeat("x", 1<<20),
	} {
		add("envelopes+poison", "", []byte(m))
	}
	if dir := corpusDir(); dirExists(dir) {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".md") {
				addFile("corpus", p)
			}
			return err
		})
	} else {
		t.Logf("public corpus not present at %s: fixtures only", dir)
	}
	return docs, sources
}

func dirExists(d string) bool {
	st, err := os.Stat(d)
	return err == nil && st.IsDir()
}

// leaves calls f for every leaf of a JSON document: dotted path and value
// (arrays are walked; their elements share the path).
func leaves(prefix string, v any, f func(path string, v any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			leaves(p, e, f)
		}
	case []any:
		for _, e := range x {
			leaves(prefix, e, f)
		}
	default:
		f(prefix, v)
	}
}

// fits reports whether JSON value v can be indexed into a field of type
// typ without relying on ignore_malformed.
func fits(typ string, v any) bool {
	switch typ {
	case "long":
		n, ok := v.(float64)
		return ok && n == float64(int64(n))
	case "double":
		_, ok := v.(float64)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "ip":
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := netip.ParseAddr(s)
		return err == nil
	case "date":
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	case "keyword", "text", "match_only_text", "wildcard", "constant_keyword":
		_, ok := v.(string)
		return ok
	case "binary":
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := base64.StdEncoding.DecodeString(s)
		return err == nil
	}
	return false
}

// TestEveryEmittedFieldIsMapped encodes documents for every fixture line
// (and the corpus when present) and checks that each field path they hold
// is mapped explicitly by the template, with a type its values fit (so
// neither dynamic:false nor ignore_malformed ever hides a field).
func TestEveryEmittedFieldIsMapped(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes the whole corpus; skipped with -short")
	}
	fields, err := mapping.Fields()
	if err != nil {
		t.Fatal(err)
	}
	docs, sources := fixtureDocs(t, "test")
	t.Logf("%d documents: %v", len(docs), sources)
	unmapped := map[string]string{} // path -> example document id
	badType := map[string]string{}
	seen := map[string]int{}
	for _, d := range docs {
		var m map[string]any
		if err := json.Unmarshal(d.Body, &m); err != nil {
			t.Fatalf("%s: invalid JSON: %v", d.ID, err)
		}
		leaves("", m, func(p string, v any) {
			seen[p]++
			typ, ok := fields[p]
			if !ok {
				if _, dup := unmapped[p]; !dup {
					unmapped[p] = fmt.Sprintf("%s (%s)", d.ID, trunc(d.Original))
				}
				return
			}
			if !fits(typ, v) {
				if _, dup := badType[p]; !dup {
					badType[p] = fmt.Sprintf("%s: %v does not fit %s", d.ID, v, typ)
				}
			}
		})
	}
	for _, p := range sortedKeys(unmapped) {
		t.Errorf("unmapped field %s, e.g. in %s", p, unmapped[p])
	}
	for _, p := range sortedKeys(badType) {
		t.Errorf("field %s: %s", p, badType[p])
	}
	for _, must := range []string{"@timestamp", "data_stream.type", "data_stream.dataset", "data_stream.namespace", "event.dataset", "event.module", "event.original", "error.message"} {
		if seen[must] == 0 {
			t.Errorf("no document had %s: the fixtures prove nothing about it", must)
		}
	}
	t.Logf("%d distinct field paths emitted", len(seen))
}

// TestParserSchemaMapped checks the parser's own field list (exim.Fields,
// every field it can write, with the type it asks for) against the
// template. Types the minimal node lacks map to their portable
// equivalents: wildcard → keyword, match_only_text → text (or a keyword
// with a text multi-field, to keep terms aggregations).
func TestParserSchemaMapped(t *testing.T) {
	fields, err := mapping.Fields()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range exim.Fields() {
		got, ok := fields[f.Name]
		if !ok {
			t.Errorf("parser field %s (%s) is not mapped", f.Name, f.Type)
			continue
		}
		ok = got == f.Type
		switch f.Type {
		case "wildcard":
			ok = got == "keyword"
		case "match_only_text":
			ok = got == "text" || got == "keyword" && fields[f.Name+".text"] == "text"
		}
		if !ok {
			t.Errorf("parser field %s wants %s, mapped as %s", f.Name, f.Type, got)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func trunc(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}
