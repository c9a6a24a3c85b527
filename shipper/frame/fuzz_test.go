package frame

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// expectedLines is an independent statement of what framing must keep: the
// non-empty lines of the input, where a record starting with '{' that is a
// JSON object with a string "message" stands for that message's lines.
func expectedLines(records [][]byte) []string {
	var out []string
	for _, rec := range records {
		rec = bytes.TrimSuffix(rec, []byte{'\r'})
		if len(rec) == 0 {
			continue
		}
		if rec[0] == '{' {
			var m map[string]any
			if json.Unmarshal(rec, &m) == nil {
				if msg, ok := m["message"].(string); ok {
					for _, l := range bytes.Split([]byte(msg), []byte{'\n'}) {
						if l = bytes.TrimSuffix(l, []byte{'\r'}); len(l) > 0 {
							out = append(out, string(l))
						}
					}
					continue
				}
			}
		}
		out = append(out, string(rec))
	}
	return out
}

func checkEntries(t *testing.T, entries []got, want []string) {
	t.Helper()
	var have []string
	seen := map[[2]int64]bool{}
	for _, e := range entries {
		for _, l := range bytes.Split([]byte(e.Original), []byte{'\n'}) {
			have = append(have, string(l))
		}
		k := [2]int64{e.Line, int64(e.Seq)}
		if seen[k] {
			t.Fatalf("duplicate (Line, Seq) %v in %v", k, e)
		}
		seen[k] = true
		if len(e.Lines) == 0 || e.Lines[0] != e.Line || !slices.IsSorted(e.Lines) {
			t.Fatalf("bad Lines in %v", e)
		}
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Fatalf("lines kept differ:\n have %q\n want %q", have, want)
	}
}

func fuzzSeeds() []string {
	var s []string
	for _, tc := range frameCases {
		s = append(s, tc.input)
	}
	return s
}

func FuzzFrameAssembler(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			t.Skip("longer than MaxLine; splitting is tested in TestAssembler")
		}
		a, err := NewAssembler(Config{Location: time.UTC, MaxLine: 1 << 16, MaxEntry: 200, MaxPending: 3})
		if err != nil {
			t.Fatal(err)
		}
		a.SetReference(refTime)
		var entries []got
		if err := a.ReadLines(bytes.NewReader(data), func(e *Entry) { entries = append(entries, copyEntry(e)) }); err != nil {
			t.Fatal(err)
		}
		checkEntries(t, entries, expectedLines(bytes.Split(data, []byte{'\n'})))
	})
}

func FuzzFrameMessage(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := NewFramer(Config{Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		var entries []got
		fr.Message(data, refTime, func(e *Entry) { entries = append(entries, copyEntry(e)) })
		var want []string
		if len(data) > 0 && data[0] == '{' {
			want = expectedLines([][]byte{data})
			// A broken envelope is kept whole, newlines included.
			if len(want) == 1 && want[0] == string(bytes.TrimSuffix(data, []byte{'\r'})) {
				want = []string{}
				for _, l := range bytes.Split(bytes.TrimSuffix(data, []byte{'\r'}), []byte{'\n'}) {
					want = append(want, string(l))
				}
			}
		} else {
			// Lines inside a plain message are never envelopes.
			want = []string{}
			for _, l := range bytes.Split(data, []byte{'\n'}) {
				if l = bytes.TrimSuffix(l, []byte{'\r'}); len(l) > 0 {
					want = append(want, string(l))
				}
			}
		}
		checkEntries(t, entries, want)
	})
}

// TestWriteFuzzSeeds writes the test table inputs as the seed corpus under
// testdata/fuzz. Run with EXIMSHIP_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("EXIMSHIP_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set EXIMSHIP_WRITE_FUZZ_SEEDS=1 to rewrite the seed corpus")
	}
	for _, target := range []string{"FuzzFrameAssembler", "FuzzFrameMessage"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range fuzzSeeds() {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(s) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
