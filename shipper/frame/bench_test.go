package frame

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// benchInput is a realistic mix: plain main-log lines, a multi-line reject
// entry, syslog-carried lines (one split in pieces) and a JSON envelope.
var benchInput = strings.Repeat(
	"2024-06-29 16:04:19 1sNbxE-000Gf2-2L <= alice@example.org H=mail.example.org [192.0.2.10]:41234 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S=2345 id=abc@example.org T=\"Hello there\"\n"+
		"2024-06-29 16:04:20 1sNbxE-000Gf2-2L => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.7] C=\"250 2.0.0 Ok: queued as 4WB\"\n"+
		"2024-06-29 16:04:20 1sNbxE-000Gf2-2L Completed\n"+
		"Jun 29 16:04:19 mx1 exim[1234]: H=(bad.example) [203.0.113.5]:5555 F=<spam@bad.example> rejected RCPT <carol@example.com>: relay not permitted\n"+
		"2024-06-29T16:04:21.123456+02:00 mx1 exim[1236]: [1/2] H=(bad.example) [203.0.113.5]:5555 F=<spam@bad.example> rejected RCPT <carol@exa\n"+
		"2024-06-29T16:04:21.123456+02:00 mx1 exim[1236]: [2/2] mple.com>: relay not permitted\n"+
		rejectEntry+"\n", 50)

func BenchmarkAssembler(b *testing.B) {
	a, err := NewAssembler(Config{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	a.SetReference(refTime)
	in := []byte(benchInput)
	lines := bytes.Count(in, []byte{'\n'})
	entries := 0
	emit := func(e *Entry) { entries++ }
	r := bytes.NewReader(in)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		if err := a.ReadLines(r, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkFramerMessage(b *testing.B) {
	f, err := NewFramer(Config{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	msgs := [][]byte{
		[]byte("2024-06-29 16:04:20 1sNbxE-000Gf2-2L => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.7] C=\"250 2.0.0 Ok: queued as 4WB\""),
		[]byte("<22>Jun 29 16:04:19 mx1 exim[1234]: H=(bad.example) [203.0.113.5]:5555 F=<spam@bad.example> rejected RCPT <carol@example.com>: relay not permitted"),
		[]byte(rejectEntry),
	}
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	emit := func(e *Entry) {}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			f.Message(m, refTime, emit)
		}
	}
}

func BenchmarkFramerEnvelope(b *testing.B) {
	f, err := NewFramer(Config{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	m := []byte(`{"@timestamp":"2024-06-29T14:04:25.000Z","message":"2024-06-29 16:04:20 1sNbxE-000Gf2-2L => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.7]","host":{"name":"mx3"},"log":{"offset":0,"file":{"path":"/var/log/exim4/mainlog"}},"agent":{"type":"filebeat","version":"8.14.0"},"ecs":{"version":"8.0.0"}}`)
	emit := func(e *Entry) {}
	b.SetBytes(int64(len(m)))
	b.ReportAllocs()
	for b.Loop() {
		f.Message(m, refTime, emit)
	}
}

// TestLineAndFlush checks that feeding lines one by one gives what
// ReadLines gives.
func TestLineAndFlush(t *testing.T) {
	for _, tc := range frameCases {
		if tc.cfg.MaxLine != 0 {
			continue // splitting is ReadLines' job
		}
		a, err := NewAssembler(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		a.SetReference(refTime)
		var out []got
		emit := func(e *Entry) { out = append(out, copyEntry(e)) }
		for i, l := range strings.Split(strings.TrimSuffix(tc.input, "\n"), "\n") {
			a.Line([]byte(l), int64(i+1), emit)
		}
		a.Flush(emit)
		t.Run(tc.name, func(t *testing.T) { compare(t, out, tc.want) })
	}
}
