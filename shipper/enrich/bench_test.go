package enrich

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/eximship/eximship/shipper/exim"
)

// benchRecords parses the real-Exim captures of shipper/exim (every line
// of every variant's main and reject log) into records, as the pipeline has
// them when it enriches.
func benchRecords(b *testing.B) []exim.Record {
	b.Helper()
	files, _ := filepath.Glob("../exim/testdata/real/*/*log")
	if len(files) == 0 {
		b.Skip("no real-Exim captures")
	}
	p := exim.NewParser(exim.Options{})
	var recs []exim.Record
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			var r exim.Record
			p.Parse(line, &r)
			recs = append(recs, r)
		}
		fh.Close()
	}
	return recs
}

// BenchmarkApply is enrichment's CPU per line on real Exim lines, caches
// warm (a log names the same domains, HELOs and clients again and again).
func BenchmarkApply(b *testing.B) {
	recs := benchRecords(b)
	e, err := New(Config{LocalDomains: []string{"example.org"}, GeoIP: &fakeGeo{}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range recs {
		e.Apply(&recs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Apply(&recs[i%len(recs)])
	}
}

// BenchmarkApplyMiss is the cost of a line whose sender, recipient, HELO
// and client address were never seen (every lookup computed: IDNA, public
// suffix list, tables, address ranges).
func BenchmarkApplyMiss(b *testing.B) {
	e, err := New(Config{LocalDomains: []string{"example.org"}, GeoIP: &fakeGeo{}})
	if err != nil {
		b.Fatal(err)
	}
	p := exim.NewParser(exim.Options{})
	lines := make([][]byte, 4096)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, "2026-11-25 17:06:46 H=(pc%d.example.co.jp) [203.0.%d.%d] F=<user%d@sender%d.example.com.tw> rejected RCPT <victim%d@dest%d.example.co.uk>: relay not permitted",
			i, i/256, i%256, i, i, i, i)
	}
	recs := make([]exim.Record, len(lines))
	for i := range lines {
		p.Parse(lines[i], &recs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(recs) == 0 {
			e.clearCaches()
		}
		e.Apply(&recs[i%len(recs)])
	}
}

// BenchmarkParseDomain is one uncached domain through ParseDomain.
func BenchmarkParseDomain(b *testing.B) {
	for _, c := range domainCases[:10] {
		b.Run(c.in, func(b *testing.B) {
			raw := []byte(c.in)
			b.ReportAllocs()
			for b.Loop() {
				ParseDomain(raw)
			}
		})
	}
}
