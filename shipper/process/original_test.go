package process

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/frame"
	"github.com/eximship/eximship/shipper/process/internal/vocab"
)

func TestHolds(t *testing.T) {
	for _, tc := range []struct {
		text, body string
		own, want  bool
	}{
		{"2024-06-29 16:04:19 1rABCD-000123-AB Completed", `{"email":{"local_id":"1rABCD-000123-AB"}}`, true, true},
		// the timestamp is skipped only when the parser took it
		{"2024-06-29 16:04:19 1rABCD-000123-AB Completed", `{"email":{"local_id":"1rABCD-000123-AB"}}`, false, false},
		{"2024-06-29 16:04:19.123 +0200 [42] x", `{"message":"x","process":{"pid":42}}`, true, true},
		{"2024-06-29 16:04:19 x zebra", `{"message":"x"}`, true, false},
		// Exim times: seconds or nanoseconds
		{"2024-06-29 16:04:19 QT=1m2s DT=0.054s D=2.875s", `{"exim":{"queue_time":62,"delivery_time":0.054},"event":{"duration":2875000000}}`, true, true},
		{"2024-06-29 16:04:19 QT=1m3s", `{"exim":{"queue_time":62}}`, true, false},
		{"2024-06-29 16:04:19 QT=1x", `{"exim":{"queue_time":1}}`, true, false},
		// escapes: Exim's \n and \" are JSON's
		{`2024-06-29 16:04:19 T="a\"b\nc"`, `{"email":{"subject":"a\"b\nc"}}`, true, true},
		// \ooo of invalid UTF-8 became U+FFFD: not the same word
		{`2024-06-29 16:04:19 T="caf\351"`, `{"email":{"subject":"caf\ufffd"}}`, true, false},
		// the continued marker and other punctuation are separators
		{"2024-06-29 16:04:19 H=mx [192.0.2.1]* C=\"250 OK\"", `{"destination":{"domain":"mx","ip":"192.0.2.1"},"exim":{"smtp":{"confirmation":"250 OK"}}}`, true, true},
		{"", `{}`, true, true},
	} {
		if got := Holds([]byte(tc.text), []byte(tc.body), tc.own); got != tc.want {
			t.Errorf("Holds(%q, %s, %t) = %t, want %t", tc.text, tc.body, tc.own, got, tc.want)
		}
	}
}

// TestOriginalChoice: without KeepOriginal, a line whose words are all in
// its document loses event.original and nothing else; an error document
// and a line the parser only partly understood keep it; with KeepOriginal
// every document has it. Dead letters (Doc.Original) always do.
func TestOriginalChoice(t *testing.T) {
	lines := []string{
		"2024-06-29 16:04:19 1rABCD-000123-AB Completed",
		"2024-06-29 16:04:19 H=(x) [10.0.0.1] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted",
		"2024-06-29 16:04:19 something the parser does not know",
		"<22>Jun 29 16:04:19 mx2 exim[4321]: 1rABCD-000123-AB Completed",
		"\t\torphaned continuation",
		"2024-06-29 16:04:19 1rABCD-000123-AB Completed with a tail",
	}
	wantKept := []bool{false, false, false, false, true, true}
	keep, drop := newProc(t, Config{KeepOriginal: true}), newProc(t, Config{})
	for i, l := range lines {
		k, d := process(t, keep, l), process(t, drop, l)
		if len(k) != 1 || len(d) != 1 {
			t.Fatalf("%q: %d and %d documents", l, len(k), len(d))
		}
		km, dm := doc(t, k[0]), doc(t, d[0])
		if get(km, "event", "original") != l {
			t.Errorf("KeepOriginal: %q lost event.original: %s", l, k[0].Body)
		}
		_, kept := get(dm, "event", "original").(string)
		if kept != wantKept[i] {
			t.Errorf("%q: event.original kept %t, want %t: %s", l, kept, wantKept[i], d[0].Body)
		}
		if string(d[0].Original) != l {
			t.Errorf("%q: Doc.Original (dead letters) %q", l, d[0].Original)
		}
		// apart from event.original, the documents are the same
		delete(km["event"].(map[string]any), "original")
		delete(dm["event"].(map[string]any), "original")
		if a, b := mustJSON(t, km), mustJSON(t, dm); a != b {
			t.Errorf("%q: documents differ beyond event.original:\n%s\n%s", l, a, b)
		}
	}
	// what the parser did not understand stays searchable in message
	if m := doc(t, process(t, drop, lines[2])[0]); get(m, "message") != "something the parser does not know" {
		t.Errorf("unknown line: message %v", get(m, "message"))
	}
}

// logSets returns the real-Exim captures (shipper/exim/testdata/real) and
// the files of the public corpus when present (EXIMSHIP_CORPUS, default
// corpusDir).
func logSets(t *testing.T) map[string][]string {
	sets := map[string][]string{}
	real, _ := filepath.Glob("../exim/testdata/real/*/*log")
	if len(real) == 0 {
		t.Fatal("no real-Exim captures")
	}
	sets["real-Exim captures"] = real
	corpus := corpusDir
	if d := os.Getenv("EXIMSHIP_CORPUS"); d != "" {
		corpus = d
	}
	if _, err := os.Stat(corpus); err == nil {
		filepath.WalkDir(corpus, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".md") {
				sets["public corpus"] = append(sets["public corpus"], p)
			}
			return err
		})
	} else {
		t.Logf("public corpus not present at %s (EXIMSHIP_CORPUS): real-Exim captures only", corpus)
	}
	return sets
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDroppedOriginalLosesNothing frames and parses the real-Exim captures
// (shipper/exim/testdata/real) and the public corpus (when present), whole
// files as `eximship parse` reads them, and checks every document that
// went without event.original, independently of Holds and more strictly:
// every word of its entry (after the timestamp the parser took) must be
// Exim's wording or occur inside one of the document's values (decoded
// JSON strings, numbers; Exim times as seconds or nanoseconds), not just
// somewhere in its bytes. Most documents must go without it (else the
// option saves nothing), and every field but event.original is the same
// as with KeepOriginal.
func TestDroppedOriginalLosesNothing(t *testing.T) {
	words := map[string]bool{}
	for _, w := range append(parserWording, fixedWording...) {
		words[w] = true
	}
	sets := logSets(t)
	for name, files := range sets {
		var total, dropped, errDocs int
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ds := ""
			switch {
			case strings.Contains(f, "reject"):
				ds = "reject"
			case strings.Contains(f, "panic"):
				ds = "panic"
			}
			drop := newProc(t, Config{Dataset: ds})
			keep := newProc(t, Config{Dataset: ds, KeepOriginal: true})
			fr, err := frame.NewFramer(frame.Config{Location: time.UTC})
			if err != nil {
				t.Fatal(err)
			}
			ref := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			fr.Message(raw, ref, func(e *frame.Entry) {
				total++
				db, _ := drop.AppendEntry(nil, e, ref)
				kb, _ := keep.AppendEntry(nil, e, ref)
				var dm, km map[string]any
				if err := json.Unmarshal(db, &dm); err != nil {
					t.Fatalf("%s: %v: %s", f, err, db)
				}
				if err := json.Unmarshal(kb, &km); err != nil {
					t.Fatalf("%s: %v: %s", f, err, kb)
				}
				if get(km, "event", "original") == nil {
					t.Errorf("%s: KeepOriginal document without event.original: %s", f, kb)
				}
				delete(km["event"].(map[string]any), "original")
				if _, kept := get(dm, "event", "original").(string); kept {
					if get(dm, "error", "message") != nil {
						errDocs++
					}
					delete(dm["event"].(map[string]any), "original")
				} else {
					dropped++
					if get(dm, "error", "message") != nil {
						t.Errorf("%s: error document without event.original: %s", f, db)
					}
					if miss := missingWords(e.Text, dm, words); len(miss) > 0 {
						t.Errorf("%s: event.original dropped, but the document lacks %q of %q", f, miss, e.Text)
					}
				}
				if a, b := mustJSON(t, dm), mustJSON(t, km); a != b {
					t.Errorf("%s: documents differ beyond event.original:\n%s\n%s", f, a, b)
				}
			})
		}
		share := float64(dropped) / float64(total)
		t.Logf("%s: %d files, %d documents, %d (%.1f%%) without event.original, %d error documents with it", name, len(files), total, dropped, 100*share, errDocs)
		if name == "real-Exim captures" && share < 0.75 {
			t.Errorf("%s: only %.1f%% of the documents go without event.original", name, 100*share)
		}
	}
}

// missingWords returns the words of text (after its timestamp) that are
// neither Exim's wording nor inside one of the values of m.
func missingWords(text []byte, m map[string]any, wording map[string]bool) []string {
	var strs []string
	nums := map[float64]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			strs = append(strs, x)
		case float64:
			nums[x] = true
			strs = append(strs, strconv.FormatFloat(x, 'f', -1, 64))
		}
	}
	walk(m)
	var miss []string
	// the words of the text with Exim's escapes decoded, as the values hold it
	decoded := strings.NewReplacer(`\n`, "\n", `\r`, "\r", `\t`, "\t", `\"`, `"`, `\\`, `\`).Replace(string(skipTimestamp(text)))
	for _, w := range strings.FieldsFunc(decoded, func(r rune) bool { return r < 128 && separator(byte(r)) }) {
		if wording[w] {
			continue
		}
		found := false
		for _, s := range strs {
			if strings.Contains(s, w) {
				found = true
				break
			}
		}
		if !found {
			if sec, ok := eximSeconds([]byte(w)); ok && (nums[sec] || nums[float64(int64(sec*1e9+0.5))]) {
				found = true
			}
		}
		if !found {
			miss = append(miss, w)
		}
	}
	return miss
}

// TestWordingCurrent: vocab_gen.go is what internal/vocabgen makes of the
// parser's sources today (run `go generate ./shipper/process` after
// changing shipper/exim).
func TestWordingCurrent(t *testing.T) {
	words, err := vocab.Words("../exim")
	if err != nil {
		t.Fatal(err)
	}
	want, err := vocab.Source(words)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("vocab_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("vocab_gen.go is stale: run go generate ./shipper/process")
	}
	for _, w := range []string{"rejected", "RCPT", "Completed", "H", "M8S"} {
		if !contains(parserWording, w) {
			t.Errorf("wording lacks %q", w)
		}
	}
	for _, w := range parserWording {
		if strings.ContainsAny(w, "0123456789.@") && !strings.HasPrefix(w, "M8S") {
			t.Errorf("wording holds a value-like word %q", w)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// BenchmarkHolds is the cost of the check on a typical arrival line.
func BenchmarkHolds(b *testing.B) {
	p := newProc(b, Config{KeepOriginal: true})
	line := "2026-11-25 17:44:58.522 [7001] 1xWH3C-0001ov-1c <= bob@partner.test H=(client.partner.test) [127.0.0.10]:36529 I=[127.0.0.1]:37173 P=esmtp L.- S=419 M8S=0 RT=0.009s id=s1@client.test T=\"Quarterly report\" from <bob@partner.test> for alice@example.org"
	docs, _ := p.Process(shipper.Message{Position: pos, Value: []byte(line)}, nil)
	body := docs[0].Body
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !Holds([]byte(line), body, true) {
			b.Fatal("not held")
		}
	}
}

// BenchmarkHoldsReal is the check on every entry of the real-Exim
// captures (shipper/exim/testdata/real), one entry per op.
func BenchmarkHoldsReal(b *testing.B) {
	files, _ := filepath.Glob("../exim/testdata/real/*/*log")
	if len(files) == 0 {
		b.Skip("no real-Exim captures")
	}
	type pair struct{ text, body []byte }
	var ps []pair
	p := newProc(b, Config{KeepOriginal: true})
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		fr, err := frame.NewFramer(frame.Config{Location: time.UTC})
		if err != nil {
			b.Fatal(err)
		}
		ref := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		fr.Message(raw, ref, func(e *frame.Entry) {
			body, _ := p.AppendEntry(nil, e, ref)
			ps = append(ps, pair{append([]byte(nil), e.Text...), body})
		})
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		x := ps[i%len(ps)]
		Holds(x.text, x.body, true)
	}
}
