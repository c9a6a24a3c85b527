package process

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/enrich"
)

// BenchmarkProcess measures one message through framing, parsing and
// encoding, for the three common transports.
func BenchmarkProcess(b *testing.B) {
	for _, bc := range []struct{ name, value string }{
		{"plain", "2024-06-29 16:04:20 1sNbxE-000Gf2-2L => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.7] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 2.0.0 Ok: queued as 4WB\""},
		{"syslog", "<22>Jun 29 16:04:19 mx1 exim[1234]: H=(bad.example) [203.0.113.5]:5555 F=<spam@bad.example> rejected RCPT <carol@example.com>: relay not permitted"},
		{"filebeat", `{"@timestamp":"2024-06-29T14:04:25.000Z","message":"2024-06-29 16:04:20 1sNbxE-000Gf2-2L => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.7]","host":{"name":"mx3"},"log":{"offset":0,"file":{"path":"/var/log/exim4/mainlog"}},"agent":{"type":"filebeat"}}`},
		{"reject-entry", rejectEntry},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newProc(b, Config{})
			m := shipper.Message{Position: pos, Value: []byte(bc.value), Time: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)}
			var docs []shipper.Doc
			b.SetBytes(int64(len(m.Value)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if docs, err = p.Process(m, docs[:0]); err != nil || len(docs) != 1 {
					b.Fatal(err, len(docs))
				}
			}
		})
	}
}

// BenchmarkEnrichment is the processor on every entry of the real-Exim
// captures (shipper/exim/testdata/real), with and without enrichment: the
// difference is what enrichment adds per entry (lookups and the bytes of
// its fields).
func BenchmarkEnrichment(b *testing.B) {
	files, _ := filepath.Glob("../exim/testdata/real/*/*log")
	if len(files) == 0 {
		b.Skip("no real-Exim captures")
	}
	var msgs [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range bytes.Split(raw, []byte("\n")) {
			if len(l) > 0 {
				msgs = append(msgs, l)
			}
		}
	}
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"no-enrich", Config{NoEnrich: true}},
		{"enrich", Config{Enrich: enrich.Config{LocalDomains: []string{"example.org"}}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newProc(b, bc.cfg)
			var docs []shipper.Doc
			size := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var err error
				m := shipper.Message{Position: pos, Value: msgs[i%len(msgs)], Time: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)}
				if docs, err = p.Process(m, docs[:0]); err != nil {
					b.Fatal(err)
				}
				size += len(docs[0].Body)
			}
			b.ReportMetric(float64(size)/float64(b.N), "docB/op")
		})
	}
}
