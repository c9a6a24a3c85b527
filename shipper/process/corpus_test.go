package process

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eximship/eximship/shipper"
)

const corpusDir = "../../../shared/corpus/public"

// TestCorpusProcess sends the public corpus (skipped when absent) through
// the processor twice: every line as its own message, and every file as one
// message. Every document must be valid JSON without duplicate keys, carry
// the data stream fields, and together the documents must hold every
// non-empty input line exactly once.
func TestCorpusProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (decodes every document twice); skipped with -short")
	}
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("public corpus not present at %s", corpusDir)
	}
	var files []string
	filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return err
	})
	p := newProc(t, Config{})
	n := 0
	// check validates every document and decodes one in 10 fully.
	check := func(d shipper.Doc) {
		n++
		if n%10 == 0 {
			doc(t, d)
		} else if !json.Valid(d.Body) {
			t.Fatalf("invalid JSON: %s", d.Body)
		}
	}
	var docs []shipper.Doc
	var want, perLine, perFile []string
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for j, l := range bytes.Split(raw, []byte{'\n'}) {
			if l = bytes.TrimSuffix(l, []byte{'\r'}); len(l) == 0 {
				continue
			}
			want = append(want, string(l))
			docs, err = p.Process(shipper.Message{Position: shipper.Position{Topic: "lines", Partition: i, Offset: int64(j)}, Value: l}, docs[:0])
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				perLine = append(perLine, strings.Split(string(d.Original), "\n")...)
				check(d)
			}
		}
		docs, err = p.Process(shipper.Message{Position: shipper.Position{Topic: "files", Partition: i}, Value: raw}, docs[:0])
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			perFile = append(perFile, strings.Split(string(d.Original), "\n")...)
			check(d)
		}
	}
	slices.Sort(want)
	for name, got := range map[string][]string{"line per message": perLine, "file per message": perFile} {
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: documents hold %d lines, input has %d non-empty lines", name, len(got), len(want))
		}
	}
	t.Logf("%d files, %d lines", len(files), len(want))
}
