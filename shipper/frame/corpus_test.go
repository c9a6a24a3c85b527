package frame

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// corpusDir is the public Exim corpus, outside the repository.
const corpusDir = "../../../shared/corpus/public"

// TestCorpusFraming frames every file of the public corpus (skipped when it
// is absent): no line may be lost, reject-log entries must begin with a
// timestamp line and no reject-log line may be left without its entry.
func TestCorpusFraming(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("public corpus not present at %s", corpusDir)
	}
	var files []string
	err := filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var nLines, nEntries, nMulti, nSyslog int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAssembler(Config{Location: time.UTC, FilePath: f})
		if err != nil {
			t.Fatal(err)
		}
		a.SetFile(f)
		var entries []got
		if err := a.ReadLines(bytes.NewReader(raw), func(e *Entry) { entries = append(entries, copyEntry(e)) }); err != nil {
			t.Fatal(err)
		}
		checkEntries(t, entries, expectedLines(bytes.Split(bytes.TrimSuffix(raw, []byte{'\n'}), []byte{'\n'})))
		nLines += bytes.Count(raw, []byte{'\n'})
		nEntries += len(entries)
		reject := strings.Contains(f, "/rejectlog/")
		for _, e := range entries {
			if e.Format != FormatPlain {
				nSyslog++
			}
			if len(e.Lines) > 1 {
				nMulti++
				if reject && !isDigit(e.Text[0]) {
					t.Errorf("%s:%d: multi-line entry does not begin with a timestamp: %q", f, e.Line, e.Text)
				}
			}
			if reject && e.Orphan {
				t.Errorf("%s:%d: continuation line without its entry: %q", f, e.Line, e.Text)
			}
			if reject && e.Dataset != DatasetReject {
				t.Errorf("%s:%d: dataset %v", f, e.Line, e.Dataset)
			}
		}
	}
	t.Logf("%d files, %d lines, %d entries, %d multi-line, %d syslog-carried", len(files), nLines, nEntries, nMulti, nSyslog)
	if nMulti == 0 || nSyslog == 0 {
		t.Error("no multi-line or no syslog entries found: the framing detects nothing")
	}
}
