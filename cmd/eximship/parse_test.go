package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/eximship/eximship/shipper"
)

const td = "testdata/parse/"

// runCmd runs eximship in-process and returns its exit status, stdout and
// stderr.
func runCmd(t testing.TB, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := realMain(args, &env{stdin: stdin, stdout: &out, stderr: &errb, log: slog.New(slog.NewTextHandler(&errb, nil))})
	return code, out.String(), errb.String()
}

// docs decodes the JSON lines of out, failing on any invalid line.
func docs(t *testing.T, out string) []map[string]any {
	t.Helper()
	var ds []map[string]any
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" && out == "" {
			break
		}
		if !json.Valid([]byte(l)) {
			t.Fatalf("line %d is not valid JSON: %q", i+1, l)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, m)
	}
	return ds
}

func field(m map[string]any, path string) any {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[p]
	}
	return v
}

func strField(m map[string]any, path string) string {
	s, _ := field(m, path).(string)
	return s
}

func originals(ds []map[string]any) []string {
	var o []string
	for _, d := range ds {
		if s, ok := field(d, "_source").(map[string]any); ok {
			d = s
		}
		o = append(o, strField(d, "event.original"))
	}
	return o
}

func TestParsePlainAndGzip(t *testing.T) {
	code, out, errs := runCmd(t, nil, "parse", "-keep-original", td+"mainlog")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	plain := docs(t, out)
	if len(plain) != 5 {
		t.Fatalf("got %d documents, want 5 (one per non-empty line)", len(plain))
	}
	raw, _ := os.ReadFile(td + "mainlog")
	var want []string
	for _, l := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		if l != "" {
			want = append(want, l)
		}
	}
	if got := originals(plain); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("event.original:\n%q\nwant\n%q", got, want)
	}
	for _, d := range plain {
		if strField(d, "data_stream.dataset") != "exim.main" || strField(d, "log.file.path") != td+"mainlog" {
			t.Errorf("dataset/path: %v", d)
		}
	}
	if a := strField(plain[2], "event.action"); a != "message-completed" {
		t.Errorf("parser not applied: action %q", a)
	}

	// mainlog.1 is the same content gzip-compressed, without a .gz name.
	code, out, errs = runCmd(t, nil, "parse", "-keep-original", td+"mainlog.1")
	if code != 0 {
		t.Fatalf("gzip: exit %d: %s", code, errs)
	}
	gz := docs(t, out)
	if strings.Join(originals(gz), "\n") != strings.Join(want, "\n") {
		t.Errorf("gzip input gives other documents: %q", originals(gz))
	}
}

func TestParseWithMetaIDs(t *testing.T) {
	code, out, errs := runCmd(t, nil, "parse", "-with-meta", "-namespace", "prod", td+"mainlog")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ds := docs(t, out)
	wantIDs := []string{"1", "2", "3", "4", "6"} // line 5 is empty
	for i, d := range ds {
		line, _ := strconv.ParseInt(wantIDs[i], 10, 64)
		if id := strField(d, "_id"); id != shipper.DocID(shipper.Position{Topic: "file:" + td + "mainlog", Offset: line}, 0) {
			t.Errorf("doc %d: _id %q", i, id)
		}
		if ix := strField(d, "_index"); ix != "logs-exim.main-prod" {
			t.Errorf("doc %d: _index %q", i, ix)
		}
		if strField(d, "_source.data_stream.namespace") != "prod" {
			t.Errorf("doc %d: namespace not applied", i)
		}
	}
}

func TestParseStdin(t *testing.T) {
	raw, _ := os.ReadFile(td + "mainlog")
	for _, args := range [][]string{{"parse", "-with-meta"}, {"parse", "-with-meta", "-"}} {
		code, out, errs := runCmd(t, bytes.NewReader(raw), args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		ds := docs(t, out)
		if len(ds) != 5 || strField(ds[0], "_id") != shipper.DocID(shipper.Position{Topic: "stdin", Offset: 1}, 0) ||
			strField(ds[4], "_id") != shipper.DocID(shipper.Position{Topic: "stdin", Offset: 6}, 0) {
			t.Errorf("%v: %d docs, ids %q %q", args, len(ds), strField(ds[0], "_id"), strField(ds[len(ds)-1], "_id"))
		}
		if strings.Contains(errs, "\r") {
			t.Errorf("progress written to a non-terminal: %q", errs)
		}
	}
}

func TestParseRejectLog(t *testing.T) {
	code, out, errs := runCmd(t, nil, "parse", "-keep-original", td+"rejectlog")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ds := docs(t, out)
	if len(ds) != 3 {
		t.Fatalf("got %d documents, want 3 entries", len(ds))
	}
	orig := strField(ds[1], "event.original")
	if n := strings.Count(orig, "\n") + 1; n != 14 || !strings.HasSuffix(orig, "*** truncated ***") {
		t.Errorf("multi-line entry has %d lines: %q", n, orig)
	}
	for _, d := range ds {
		if strField(d, "data_stream.dataset") != "exim.reject" || strField(d, "event.dataset") != "exim.reject" {
			t.Errorf("not in the reject dataset: %v", d)
		}
	}
	if a := strField(ds[1], "event.action"); a != "data-rejected" {
		t.Errorf("action %q", a)
	}
}

func TestParseSyslog(t *testing.T) {
	code, out, errs := runCmd(t, nil, "parse", "-keep-original", "-timezone", "Europe/Berlin", td+"syslog.log")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ds := docs(t, out)
	byOrig := map[string]map[string]any{}
	for _, d := range ds {
		byOrig[strings.SplitN(strField(d, "event.original"), "\n", 2)[0]] = d
	}
	if len(ds) != 5 {
		t.Fatalf("got %d documents, want 5: %q", len(ds), originals(ds))
	}
	first := byOrig["Jun 29 16:04:19 mx1 exim[1234]: 1sNbxE-000Gf2-2L <= alice@example.org H=mail.example.org [192.0.2.10]:41234 P=esmtp S=2345"]
	if first == nil || strField(first, "host.name") != "mx1" || field(first, "process.pid") != float64(1234) || strField(first, "event.action") != "message-arrival" {
		t.Errorf("rfc3164 line: %v", first)
	}
	if s := strField(first, "@timestamp"); !strings.HasSuffix(s, "-06-29T14:04:19.000Z") {
		t.Errorf("rfc3164 time in Europe/Berlin: %s", s)
	}
	joined := byOrig["2024-06-29T16:04:21.123456+02:00 mx1 exim[1236]: [1/2] H=(bad.example) [203.0.113.5]:5555 F=<spam@bad.example> rejected RCPT <carol@exa"]
	if joined == nil || strField(joined, "email.to.address") == "" && field(joined, "email.to.address") == nil || field(joined, "error") != nil {
		t.Errorf("pieces not reassembled: %v", joined)
	}
	if to, _ := field(joined, "email.to.address").([]any); len(to) != 1 || to[0] != "carol@example.com" {
		t.Errorf("reassembled recipient: %v", field(joined, "email.to.address"))
	}
	inc := byOrig["Jun 29 16:04:22 mx1 exim[1237]: [1/3] this sequence never completes"]
	if inc == nil || !strings.Contains(strField(inc, "error.message"), "incomplete") {
		t.Errorf("incomplete sequence: %v", inc)
	}
	if d := byOrig["<22>1 2024-06-29T16:04:20.123+02:00 mx1 exim 1235 - - 1sNbxE-000Gf2-2L Completed"]; d == nil || field(d, "process.pid") != float64(1235) {
		t.Errorf("rfc5424 line: %v", d)
	}
}

func TestParseEnvelopes(t *testing.T) {
	code, out, errs := runCmd(t, nil, "parse", "-keep-original", td+"filebeat.ndjson")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ds := docs(t, out)
	if len(ds) != 4 {
		t.Fatalf("got %d documents: %q", len(ds), originals(ds))
	}
	for i, want := range []struct{ host, dataset, path string }{
		{"mx3", "exim.main", "/var/log/exim4/mainlog"},
		{"mx3", "exim.reject", "/var/log/exim4/rejectlog"},
		{"mx4", "exim.main", "/var/log/mail.log"},
		{strings.ToLower(defaultParseHost()), "exim.main", td + "filebeat.ndjson"}, // not an envelope: -host
	} {
		d := ds[i]
		if strField(d, "host.name") != want.host || strField(d, "data_stream.dataset") != want.dataset || strField(d, "log.file.path") != want.path {
			t.Errorf("doc %d: host %q dataset %q path %q, want %+v", i, strField(d, "host.name"), strField(d, "data_stream.dataset"), strField(d, "log.file.path"), want)
		}
	}
	if !strings.Contains(strField(ds[1], "event.original"), "\nEnvelope-to: <erin@example.org>") {
		t.Errorf("multiline envelope not one entry: %q", strField(ds[1], "event.original"))
	}
	if !strings.Contains(strField(ds[3], "error.message"), "invalid JSON envelope") || strField(ds[3], "event.original") != `{"message": "broken envelope` {
		t.Errorf("broken envelope: %v", ds[3])
	}
}

// TestParseHost: -host names the host of plain lines (lower-cased; the
// hosts of envelopes and syslog headers are checked in TestParseEnvelopes
// and TestParseSyslog), -host "" leaves it out.
func TestParseHost(t *testing.T) {
	for _, c := range []struct{ flag, want string }{{"MX7.Example", "mx7.example"}, {"", ""}} {
		code, out, errs := runCmd(t, nil, "parse", "-host", c.flag, td+"mainlog")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		ds := docs(t, out)
		if len(ds) == 0 {
			t.Fatal("no documents")
		}
		for _, d := range ds {
			if got := strField(d, "host.name"); got != c.want {
				t.Errorf("-host %q: host.name %q, want %q: %s", c.flag, got, c.want, strField(d, "event.original"))
			}
		}
	}
}

func TestParseMissingAndBrokenInputs(t *testing.T) {
	dir := t.TempDir()
	badgz := filepath.Join(dir, "bad.gz")
	if err := os.WriteFile(badgz, []byte("\x1f\x8bgarbage that is not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A gzip stream cut in the middle: its first lines are still parsed.
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for range 2000 {
		zw.Write([]byte("2024-06-29 16:04:20 1sNbxE-000Gf2-2L Completed\n"))
	}
	zw.Close()
	cut := filepath.Join(dir, "cut.gz")
	if err := os.WriteFile(cut, b.Bytes()[:b.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, nil, "parse", filepath.Join(dir, "missing"), td+"mainlog", badgz, cut, dir, td+"rejectlog")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	ds := docs(t, out)
	var fromCut int
	for _, d := range ds {
		if strField(d, "log.file.path") == cut {
			fromCut++
		}
	}
	if len(ds)-fromCut != 5+3 || fromCut == 0 {
		t.Errorf("got %d documents (%d from the cut gzip), want 8 from the good files", len(ds), fromCut)
	}
	for _, want := range []string{"missing", "bad.gz", "cut.gz", "4 of 6 inputs"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, errs)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, args := range [][]string{
		{"parse", "-nope"},
		{"parse", "-timezone", "Mars/Olympus_Mons", td + "mainlog"},
		{"parse", "-dataset", "mainlog", td + "mainlog"},
		{"parse", "-namespace", "Bad-Name", td + "mainlog"},
	} {
		if code, out, _ := runCmd(t, nil, args...); code != 2 || out != "" {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	// help asked for goes to stdout (it is the output asked for)
	if code, out, _ := runCmd(t, nil, "parse", "-h"); code != 0 || !strings.Contains(out, "usage: eximship parse") {
		t.Errorf("-h: exit %d: %s", code, out)
	}
}

func TestParseTimezoneAndDataset(t *testing.T) {
	code, out, _ := runCmd(t, nil, "parse", "-timezone", "America/New_York", "-dataset", "panic", td+"mainlog")
	if code != 0 {
		t.Fatal(code)
	}
	ds := docs(t, out)
	if ts := strField(ds[0], "@timestamp"); ts != "2024-06-29T20:04:19.000Z" {
		t.Errorf("@timestamp %s", ts)
	}
	if strField(ds[0], "data_stream.dataset") != "exim.panic" {
		t.Errorf("dataset %s", strField(ds[0], "data_stream.dataset"))
	}
}

func TestParsePoisonAndLongLines(t *testing.T) {
	dir := t.TempDir()
	long := bytes.Repeat([]byte("2024-06-29 16:04:19 \xff\x00\"\\ x"), (5<<20)/26+1) // > 4 MiB: split
	var in bytes.Buffer
	in.Write(long)
	in.WriteString("\n2024-06-29 16:04:19 \x00\x01\xc3\x28 binary\r\n")
	in.Write(bytes.Repeat([]byte("a"), 1<<20)) // 1 MiB, no newline at the end
	f := filepath.Join(dir, "poison")
	if err := os.WriteFile(f, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, nil, "parse", "-keep-original", "-with-meta", f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ds := docs(t, out)
	var split, total int
	ids := map[string]bool{}
	for _, d := range ds {
		if ids[strField(d, "_id")] {
			t.Errorf("duplicate _id %s", strField(d, "_id"))
		}
		ids[strField(d, "_id")] = true
		if strings.Contains(strField(d, "_source.error.message"), "line too long") {
			split++
		}
		total += len(strField(d, "_source.event.original"))
	}
	if split < 2 || len(ds) != split+2 {
		t.Errorf("%d documents, %d split pieces", len(ds), split)
	}
	// Every input byte shows up (invalid UTF-8 as U+FFFD, 3 bytes).
	if total < len(long)+1<<20 {
		t.Errorf("event.original holds %d bytes, input has more than %d", total, len(long)+1<<20)
	}
}

// TestParseMetaOddFileName: -with-meta derives _id from the file name (its
// hash), so a name with control characters and invalid UTF-8 still gives
// valid JSON and the id of its bytes.
func TestParseMetaOddFileName(t *testing.T) {
	f := filepath.Join(t.TempDir(), "odd\x01\x7f\xff\"name\\.log")
	if err := os.WriteFile(f, []byte("2024-06-29 16:04:19 1rABCD-000123-AB Completed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, nil, "parse", "-with-meta", f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ds := docs(t, out) // fails on invalid JSON
	if len(ds) != 1 {
		t.Fatalf("%d documents, want 1", len(ds))
	}
	if got, want := strField(ds[0], "_id"), shipper.DocID(shipper.Position{Topic: "file:" + f, Offset: 1}, 0); got != want {
		t.Errorf("_id %q, want %q", got, want)
	}
}

func TestParseDeterministic(t *testing.T) {
	args := []string{"parse", "-with-meta", td + "mainlog", td + "syslog.log", td + "rejectlog", td + "filebeat.ndjson"}
	_, a, _ := runCmd(t, nil, args...)
	_, b, _ := runCmd(t, nil, args...)
	if a != b || a == "" {
		t.Error("two runs over the same files differ")
	}
}

// BenchmarkParseCommand runs eximship parse over the public corpus when it
// is present (../shared/corpus/public), else over the test data.
func BenchmarkParseCommand(b *testing.B) {
	var input []byte
	corpus := filepath.Join("..", "..", "..", "shared", "corpus", "public")
	for _, f := range []string{"gpb-task-maillog-out/AzatotEnikeev_ParsMailLog_data_out.log", "artik292-ddos-exim_mainlog/exim_mainlog.head3000.log"} {
		if raw, err := os.ReadFile(filepath.Join(corpus, f)); err == nil {
			input = append(input, raw...)
		}
	}
	if len(input) == 0 {
		for _, f := range []string{"mainlog", "rejectlog", "syslog.log"} {
			raw, _ := os.ReadFile(td + f)
			input = append(input, raw...)
		}
	}
	for len(input) < 8<<20 {
		input = append(input, input...)
	}
	path := filepath.Join(b.TempDir(), "mainlog")
	if err := os.WriteFile(path, input, 0o644); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(input, []byte{'\n'})
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if code := realMain([]string{"parse", path}, e); code != 0 {
			b.Fatal(code)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func TestParsePerLine(t *testing.T) {
	code, out, errs := runCmd(t, nil, "parse", "-per-line", td+"rejectlog")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ds := docs(t, out)
	if len(ds) != 16 {
		t.Fatalf("got %d documents, want one per line (16)", len(ds))
	}
	if !strings.Contains(strField(ds[2], "error.message"), "continuation line") || strField(ds[2], "event.original") != "Envelope-from: <dave@example.com>" {
		t.Errorf("continuation line alone: %v", ds[2])
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestParseWriteError(t *testing.T) {
	var errb bytes.Buffer
	big := strings.Repeat("2024-06-29 16:04:20 1sNbxE-000Gf2-2L Completed\n", 50000)
	code := realMain([]string{"parse", "-", td + "mainlog"}, &env{stdin: strings.NewReader(big), stdout: failWriter{}, stderr: &errb, log: slog.New(slog.NewTextHandler(&errb, nil))})
	if code != 1 || !strings.Contains(errb.String(), "write output") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

// TestParseParallelSameOutput checks that the parallel pipeline writes the
// same bytes as the sequential path, with ids (-with-meta), over every test
// input and the public corpus when present, with jobs of the normal size
// and with tiny jobs (many job boundaries, inside reject-log entries and
// syslog piece sequences too).
func TestParseParallelSameOutput(t *testing.T) {
	files := []string{td + "mainlog", td + "mainlog.1", td + "rejectlog", td + "syslog.log", td + "filebeat.ndjson"}
	// The real-Exim captures (committed) give hundreds of entries of every
	// kind, reject-log entries spanning lines included, with or without
	// the public corpus.
	real, _ := filepath.Glob(filepath.Join("..", "..", "shipper", "exim", "testdata", "real", "*", "*log"))
	if len(real) == 0 {
		t.Fatal("no real-Exim captures under shipper/exim/testdata/real")
	}
	files = append(files, real...)
	corpus := filepath.Join("..", "..", "..", "shared", "corpus", "public")
	var corpusFiles []string
	_ = filepath.WalkDir(corpus, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			corpusFiles = append(corpusFiles, path)
		}
		return nil
	})
	if len(corpusFiles) == 0 {
		t.Log("public corpus absent (" + corpus + "): test inputs only")
	}
	files = append(files, corpusFiles...)
	for _, perLine := range []bool{false, true} {
		args := []string{"parse", "-with-meta"}
		if perLine {
			args = append(args, "-per-line")
		}
		args = append(args, files...)
		run := func(workers string) string {
			code, out, errs := runCmd(t, nil, append([]string{args[0], "-workers", workers}, args[1:]...)...)
			if code != 0 {
				t.Fatalf("-workers %s: exit %d: %s", workers, code, errs)
			}
			return out
		}
		want := run("1")
		if strings.Count(want, "\n") < 50 {
			t.Fatalf("only %d documents", strings.Count(want, "\n"))
		}
		for _, w := range []string{"2", "3"} {
			if got := run(w); got != want {
				t.Errorf("per-line=%v -workers %s: output differs from -workers 1 (%d vs %d bytes)", perLine, w, len(got), len(want))
			}
		}
		saved := jobEntries
		jobEntries = 3
		got := run("2")
		jobEntries = saved
		if got != want {
			t.Errorf("per-line=%v -workers 2, 3-entry jobs: output differs from -workers 1 (%d vs %d bytes)", perLine, len(got), len(want))
		}
	}
}

func TestParseWriteErrorParallel(t *testing.T) {
	var errb bytes.Buffer
	big := strings.Repeat("2024-06-29 16:04:20 1sNbxE-000Gf2-2L Completed\n", 50000)
	code := realMain([]string{"parse", "-workers", "2", "-", td + "mainlog"}, &env{stdin: strings.NewReader(big), stdout: failWriter{}, stderr: &errb, log: slog.New(slog.NewTextHandler(&errb, nil))})
	if code != 1 || !strings.Contains(errb.String(), "write output") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

// TestParseKeepOriginal: by default a line the document holds entirely
// goes without event.original; -keep-original keeps it on every document.
func TestParseKeepOriginal(t *testing.T) {
	in := "2024-06-29 16:04:19 1rABCD-000123-AB Completed\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"parse"}, ""},
		{[]string{"parse", "-keep-original"}, strings.TrimSuffix(in, "\n")},
	} {
		code, out, errs := runCmd(t, strings.NewReader(in), tc.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errs)
		}
		ds := docs(t, out)
		if len(ds) != 1 || strField(ds[0], "event.original") != tc.want || strField(ds[0], "email.local_id") != "1rABCD-000123-AB" {
			t.Errorf("%v: %v", tc.args, ds)
		}
	}
}
