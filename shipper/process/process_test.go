package process

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/exim"
	"github.com/eximship/eximship/shipper/frame"
)

var pos = shipper.Position{Topic: "exim", Partition: 3, Offset: 42}

func newProc(t testing.TB, c Config) *Exim {
	t.Helper()
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		// event.ingested from a fixed clock: documents compare across runs
		c.Now = func() time.Time { return time.Date(2024, 7, 1, 0, 0, 1, 0, time.UTC) }
	}
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func process(t testing.TB, p *Exim, value string) []shipper.Doc {
	t.Helper()
	docs, err := p.Process(shipper.Message{Position: pos, Value: []byte(value), Time: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// doc decodes a body and checks the invariants every document has.
func doc(t *testing.T, d shipper.Doc) map[string]any {
	t.Helper()
	if !json.Valid(d.Body) {
		t.Fatalf("invalid JSON: %q", d.Body)
	}
	if err := noDuplicateKeys(d.Body); err != nil {
		t.Fatalf("%v in %s", err, d.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(d.Body, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["@timestamp"].(string); !ok {
		t.Errorf("no @timestamp in %s", d.Body)
	}
	if a, _ := get(m, "event", "action").(string); a == "" || a != d.Action {
		t.Errorf("Doc.Action %q, event.action %q in %s", d.Action, a, d.Body)
	}
	ds := get(m, "data_stream", "dataset")
	if get(m, "data_stream", "type") != "logs" || get(m, "data_stream", "namespace") == nil || ds == nil {
		t.Errorf("data_stream incomplete in %s", d.Body)
	}
	if get(m, "event", "module") != "exim" || get(m, "event", "dataset") != ds {
		t.Errorf("event.module/dataset wrong in %s", d.Body)
	}
	if want := "logs-" + ds.(string) + "-" + get(m, "data_stream", "namespace").(string); d.Stream != want {
		t.Errorf("stream %q, want %q", d.Stream, want)
	}
	if d.ID != shipper.DocID(d.Pos, d.Entry) {
		t.Errorf("id %q does not derive from %v/%d", d.ID, d.Pos, d.Entry)
	}
	// event.original, when written, is the input (as valid UTF-8); error
	// documents always have it; Doc.Original (for dead letters) always.
	if o, ok := get(m, "event", "original").(string); ok {
		if utf8.Valid(d.Original) && o != string(d.Original) {
			t.Errorf("event.original %q, input %q", o, d.Original)
		}
	} else if get(m, "error", "message") != nil {
		t.Errorf("error document without event.original: %s", d.Body)
	}
	if len(d.Original) == 0 {
		t.Errorf("no Doc.Original for %s", d.Body)
	}
	return m
}

func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[p]
	}
	return v
}

const rejectEntry = "2024-06-29 16:04:19 H=(x) [10.0.0.1] F=<a@b.example> rejected after DATA: spam\n" +
	"Envelope-from: <a@b.example>\n" +
	"Envelope-to: <c@d.example>\n" +
	"P Received: from [10.0.0.1] by mx with esmtp\n" +
	"\tid 1rABCD-000123-AB\n" +
	"  Subject: hello"

func TestProcessDocuments(t *testing.T) {
	p := newProc(t, Config{KeepOriginal: true})
	for _, tc := range []struct {
		name     string
		value    string
		streams  []string
		check    func(t *testing.T, docs []map[string]any)
		original []string
	}{
		{
			name:     "main line",
			value:    "2024-06-29 16:04:19 1rABCD-000123-AB Completed",
			streams:  []string{"logs-exim.main-default"},
			original: []string{"2024-06-29 16:04:19 1rABCD-000123-AB Completed"},
		},
		{
			name:     "reject entry sent whole",
			value:    rejectEntry + "\n",
			streams:  []string{"logs-exim.reject-default"},
			original: []string{rejectEntry},
			check: func(t *testing.T, docs []map[string]any) {
				if get(docs[0], "error") != nil {
					t.Errorf("unexpected error: %v", get(docs[0], "error"))
				}
			},
		},
		{
			name:     "continuation line alone",
			value:    "Envelope-to: <c@d.example>",
			streams:  []string{"logs-exim.reject-default"},
			original: []string{"Envelope-to: <c@d.example>"},
			check: func(t *testing.T, docs []map[string]any) {
				if msg, _ := get(docs[0], "error", "message").(string); !strings.Contains(msg, "continuation line") {
					t.Errorf("error.message %q", msg)
				}
			},
		},
		{
			name:     "filebeat multiline event with two entries",
			value:    `{"message":"2024-06-29 16:04:19 1rABCD-000123-AB Completed\n2024-06-29 16:04:20 1rABCE-000123-AB Completed","host":{"name":"mx1"},"log":{"file":{"path":"/var/log/exim4/mainlog"}}}`,
			streams:  []string{"logs-exim.main-default", "logs-exim.main-default"},
			original: []string{"2024-06-29 16:04:19 1rABCD-000123-AB Completed", "2024-06-29 16:04:20 1rABCE-000123-AB Completed"},
			check: func(t *testing.T, docs []map[string]any) {
				for _, d := range docs {
					if get(d, "host", "name") != "mx1" || get(d, "log", "file", "path") != "/var/log/exim4/mainlog" {
						t.Errorf("envelope meta lost: %v", d)
					}
				}
			},
		},
		{
			name:     "syslog line carries pid and host",
			value:    "<22>Jun 29 16:04:19 mx2 exim[4321]: 1rABCD-000123-AB Completed",
			streams:  []string{"logs-exim.main-default"},
			original: []string{"<22>Jun 29 16:04:19 mx2 exim[4321]: 1rABCD-000123-AB Completed"},
			check: func(t *testing.T, docs []map[string]any) {
				if get(docs[0], "process", "pid") != float64(4321) || get(docs[0], "host", "name") != "mx2" {
					t.Errorf("pid/host: %v", docs[0])
				}
				if ts := get(docs[0], "@timestamp"); ts != "2024-06-29T16:04:19.000Z" {
					t.Errorf("@timestamp %v", ts)
				}
			},
		},
		{
			name:     "rejectlog path in a vector envelope",
			value:    `{"message":"2024-06-29 16:04:19 H=[10.0.0.1] rejected connection in \"connect\" ACL","host":"mx3","file":"/var/log/exim4/rejectlog"}`,
			streams:  []string{"logs-exim.reject-default"},
			original: []string{`2024-06-29 16:04:19 H=[10.0.0.1] rejected connection in "connect" ACL`},
		},
		{
			name:     "broken envelope",
			value:    `{"message":"2024-06-29 16:04:19 x", "host":`,
			streams:  []string{"logs-exim.main-default"},
			original: []string{`{"message":"2024-06-29 16:04:19 x", "host":`},
			check: func(t *testing.T, docs []map[string]any) {
				if msg, _ := get(docs[0], "error", "message").(string); !strings.Contains(msg, "invalid JSON envelope") {
					t.Errorf("error.message %q", msg)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := process(t, p, tc.value)
			if len(docs) != len(tc.streams) {
				t.Fatalf("got %d docs, want %d", len(docs), len(tc.streams))
			}
			var ms []map[string]any
			for i, d := range docs {
				m := doc(t, d)
				ms = append(ms, m)
				if d.Stream != tc.streams[i] {
					t.Errorf("doc %d: stream %q, want %q", i, d.Stream, tc.streams[i])
				}
				if d.Entry != i || d.Pos != pos {
					t.Errorf("doc %d: position %v/%d", i, d.Pos, d.Entry)
				}
				if string(d.Original) != tc.original[i] || get(m, "event", "original") != tc.original[i] {
					t.Errorf("doc %d: original %q / %q, want %q", i, d.Original, get(m, "event", "original"), tc.original[i])
				}
			}
			if tc.check != nil {
				tc.check(t, ms)
			}
		})
	}
}

func TestProcessDeterministic(t *testing.T) {
	p := newProc(t, Config{})
	env, _ := json.Marshal(map[string]string{"message": rejectEntry + "\n2024-06-29 16:04:20 1rABCD-000123-AB Completed"})
	value := string(env)
	a := process(t, p, value)
	b := process(t, newProc(t, Config{}), value)
	if len(a) != 2 || len(a) != len(b) {
		t.Fatalf("%d and %d docs", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || !bytes.Equal(a[i].Body, b[i].Body) {
			t.Errorf("doc %d differs:\n%s %s\n%s %s", i, a[i].ID, a[i].Body, b[i].ID, b[i].Body)
		}
	}
	if a[0].ID == a[1].ID {
		t.Errorf("ids not unique: %s", a[0].ID)
	}
}

func TestProcessAppendsAndKeepsEarlierDocs(t *testing.T) {
	p := newProc(t, Config{})
	docs, _ := p.Process(shipper.Message{Position: pos, Value: []byte("2024-06-29 16:04:19 first")}, nil)
	first := string(docs[0].Body)
	docs, _ = p.Process(shipper.Message{Position: shipper.Position{Topic: "exim", Offset: 43}, Value: []byte("2024-06-29 16:04:20 second")}, docs)
	if len(docs) != 2 || string(docs[0].Body) != first || docs[1].ID != shipper.DocID(shipper.Position{Topic: "exim", Offset: 43}, 0) {
		t.Fatalf("docs: %v", docs)
	}
}

func TestProcessOverridesAndNamespace(t *testing.T) {
	p := newProc(t, Config{Namespace: "prod", Dataset: "panic"})
	docs := process(t, p, `{"message":"2024-06-29 16:04:19 x","log.file.path":"/var/log/exim4/rejectlog"}`)
	if len(docs) != 1 || docs[0].Stream != "logs-exim.panic-prod" {
		t.Fatalf("docs: %v", docs)
	}
	m := doc(t, docs[0])
	if get(m, "event", "dataset") != "exim.panic" || get(m, "data_stream", "namespace") != "prod" {
		t.Errorf("%s", docs[0].Body)
	}
	p = newProc(t, Config{DefaultDataset: "reject"})
	if docs := process(t, p, "2024-06-29 16:04:19 x"); docs[0].Stream != "logs-exim.reject-default" {
		t.Errorf("default dataset not used: %s", docs[0].Stream)
	}
}

func TestProcessPoison(t *testing.T) {
	p := newProc(t, Config{})
	rnd := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(rnd.Uint32())
	}
	big := "2024-06-29 16:04:19 1rABCD-000123-AB <= a@b.example T=\"" + strings.Repeat("x\\\"\xff\x00", 1<<18) + "\""
	for name, v := range map[string]string{
		"invalid utf-8":        "2024-06-29 16:04:19 H=[10.0.0.1] F=<\xff\xfe@b> rejected RCPT <\xc3\x28@d>: relay not permitted",
		"nul bytes":            "2024-06-29 16:04:19 \x00\x00 rejected RCPT <a\x00b@c>",
		"1 MB line":            big,
		"binary garbage":       string(garbage),
		"broken json":          "{\"message\":\"\xff\x00",
		"json with bad utf8":   "{\"message\":\"2024-06-29 16:04:19 \xff\xfe\",\"host\":\"h\xff\"}",
		"control chars":        "2024-06-29 16:04:19 \x01\x02\x1b[31m\u2028\u2029\x7f",
		"only continuation":    "\t\t",
		"json message garbage": `{"message":"` + strings.Repeat(`\u0000\ud800`, 100) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			docs := process(t, p, v)
			if len(docs) == 0 {
				t.Fatal("no document")
			}
			var orig int
			for _, d := range docs {
				doc(t, d)
				orig += len(d.Original)
			}
			if v[0] != '{' && orig < len(strings.TrimSpace(strings.ReplaceAll(v, "\n", "")))-strings.Count(v, "\n")-strings.Count(v, "\r") {
				t.Errorf("originals hold %d bytes of %d", orig, len(v))
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Namespace: "Prod"},
		{Namespace: "a-b"},
		{Namespace: strings.Repeat("a", 101)},
		{Dataset: "mainlog"},
		{DefaultDataset: "x"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%+v: New accepted it", c)
		}
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

func FuzzProcess(f *testing.F) {
	for _, s := range []string{
		"2024-06-29 16:04:19 1rABCD-000123-AB Completed",
		rejectEntry,
		"Envelope-to: <c@d.example>",
		`{"message":"2024-06-29 16:04:19 x\nEnvelope-from: <a@b>","host":{"name":"mx1"}}`,
		"<22>Jun 29 16:04:19 mx2 exim[4321]: [1/2] 1rABCD-000123-AB <= a@b",
		"{\"message\":\"\xff",
	} {
		f.Add([]byte(s))
	}
	p := newProc(f, Config{})
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := p.Process(shipper.Message{Position: pos, Value: data}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, d := range docs {
			if !json.Valid(d.Body) {
				t.Fatalf("invalid JSON %q", d.Body)
			}
			if err := noDuplicateKeys(d.Body); err != nil {
				t.Fatalf("%v in %s", err, d.Body)
			}
			if ids[d.ID] {
				t.Fatalf("duplicate id %s", d.ID)
			}
			ids[d.ID] = true
		}
		if len(bytes.TrimLeft(data, "\r\n")) > 0 && len(docs) == 0 && !(len(data) > 0 && data[0] == '{') {
			t.Fatalf("no document for %q", data)
		}
	})
}

// noDuplicateKeys reports a key that appears twice in one object.
func noDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type obj struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && !top.expectKey {
					top.expectKey = true
				}
				stack = append(stack, &obj{keys: map[string]bool{}, expectKey: true})
				continue
			case '[':
				stack = append(stack, nil)
				continue
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1] != nil {
					stack[len(stack)-1].expectKey = true
				}
				continue
			}
		case string:
			if top != nil && top.expectKey {
				if top.keys[v] {
					return fmt.Errorf("duplicate key %q", v)
				}
				top.keys[v] = true
				top.expectKey = false
				continue
			}
		}
		if top != nil {
			top.expectKey = true
		}
	}
}

// TestDataStreamMembers checks that the parser writes event.module and
// data_stream exactly when Meta.Namespace is set, and that every document
// of the processor carries them for its stream.
func TestDataStreamMembers(t *testing.T) {
	p := newProc(t, Config{Namespace: "ns"})
	for _, line := range []string{
		"2024-06-29 16:04:19 1rABCD-000123-AB Completed",
		"2024-06-29 16:04:19 something unknown with a \"event\":{ inside",
		"Envelope-to: <a@b>",
		rejectEntry,
		"\x00\xff",
	} {
		r := &p.rec
		for _, ns := range []string{"", "ns"} {
			r.Meta = exim.Meta{Dataset: "exim.reject", Namespace: ns}
			p.parser.Parse([]byte(line), r)
			body := r.AppendJSON(nil)
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if err := noDuplicateKeys(body); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if ns == "" {
				if get(m, "event", "module") != nil || m["data_stream"] != nil {
					t.Errorf("without a namespace: %s", body)
				}
				continue
			}
			if get(m, "event", "module") != "exim" || get(m, "event", "dataset") != "exim.reject" ||
				get(m, "data_stream", "type") != "logs" || get(m, "data_stream", "dataset") != "exim.reject" ||
				get(m, "data_stream", "namespace") != "ns" {
				t.Errorf("with namespace ns: %s", body)
			}
		}
		for _, d := range process(t, p, line) {
			m := doc(t, d)
			ds := strings.TrimPrefix(strings.TrimSuffix(d.Stream, "-ns"), "logs-")
			if get(m, "event", "module") != "exim" || get(m, "data_stream", "dataset") != ds || get(m, "event", "dataset") != ds {
				t.Errorf("%s: %s", d.Stream, d.Body)
			}
		}
	}
}

func TestNoDuplicateKeys(t *testing.T) {
	for in, dup := range map[string]bool{
		`{"a":1,"b":{"a":2},"c":3}`:               false,
		`{"a":[{"a":1},{"a":2}],"b":{"c":[1,2]}}`: false,
		`{"a":1,"b":{"a":2},"a":3}`:               true,
		`{"e":{"m":1,"x":[1],"m":2}}`:             true,
		`{"e":{"m":{"z":1}},"f":[],"e":1}`:        true,
	} {
		if err := noDuplicateKeys([]byte(in)); (err != nil) != dup {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestProcessRecoversFromPanic(t *testing.T) {
	p := newProc(t, Config{})
	value := "2024-06-29 16:04:19 first\n2024-06-29 16:04:20 second\n2024-06-29 16:04:21 third"
	testHookEmit = func(e *frame.Entry) {
		if e.Line == 2 {
			panic("boom")
		}
	}
	docs := process(t, p, value)
	testHookEmit = nil
	if len(docs) != 1 {
		t.Fatalf("got %d docs, want one error document", len(docs))
	}
	m := doc(t, docs[0])
	if get(m, "event", "original") != value || !strings.Contains(get(m, "error", "message").(string), "boom") || get(m, "event", "kind") != "pipeline_error" {
		t.Errorf("error document: %s", docs[0].Body)
	}
	// The processor still works, with nothing left over from the panic.
	docs = process(t, p, "2024-06-29 16:04:22 next")
	if len(docs) != 1 || string(docs[0].Original) != "2024-06-29 16:04:22 next" {
		t.Errorf("after the panic: %v", docs)
	}
}

func TestFactory(t *testing.T) {
	if _, err := Factory(Config{Namespace: "Bad"}); err == nil {
		t.Error("invalid config accepted")
	}
	newProc, err := Factory(Config{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := newProc()
	b, _ := newProc()
	if a == b {
		t.Error("processors shared between workers")
	}
	docs, err := a.Process(shipper.Message{Position: pos, Value: []byte("2024-06-29 16:04:19 x")}, nil)
	if err != nil || len(docs) != 1 {
		t.Errorf("%v %v", docs, err)
	}
}
