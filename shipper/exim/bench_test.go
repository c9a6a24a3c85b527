package exim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchMix is a realistic main-log mix: per message an arrival, one or two
// deliveries and a completion, plus the connection, DNS, authentication and
// rejection noise of an Internet-facing MX (proportions after the corpus's
// real-world files).
var benchMix = []string{
	`2023-04-23 03:47:39 SMTP connection from [198.51.100.7]:57766 (TCP/IP connection count = 1)`,
	`2023-04-23 03:47:39 1q0XjT-0004Fh-2c <= alice@example.org H=mail.example.org (mail.example.org) [198.51.100.7]:57766 I=[192.0.2.25]:25 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S=4711 id=20230423034739.1234@example.org T="Quarterly report" for bob@example.com`,
	`2023-04-23 03:47:40 1q0XjT-0004Fh-2c => bob <bob@example.com> R=local_user T=mail_spool`,
	`2023-04-23 03:47:40 1q0XjT-0004Fh-2c Completed`,
	`2023-04-23 03:47:41 SMTP connection from mail.example.org (mail.example.org) [198.51.100.7]:57766 closed by QUIT`,
	`2023-04-23 03:48:01 1q0XjU-0004Fi-3d <= bob@example.com U=bob P=local S=1024 id=E1q0XjU-0004Fi-3d@example.com`,
	`2023-04-23 03:48:02 1q0XjU-0004Fi-3d => carol@example.net R=dnslookup T=remote_smtp H=mx.example.net [203.0.113.5] X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes C="250 2.0.0 OK 1682221682 x3si123456" QT=1s DT=1s`,
	`2023-04-23 03:48:02 1q0XjU-0004Fi-3d -> dave@example.net R=dnslookup T=remote_smtp H=mx.example.net [203.0.113.5] X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes C="250 2.0.0 OK 1682221682 x3si123457"`,
	`2023-04-23 03:48:02 1q0XjU-0004Fi-3d Completed`,
	`2023-04-23 03:50:42 SMTP connection from [46.148.40.143]:59474 (TCP/IP connection count = 1)`,
	`2023-04-23 03:50:42 no host name found for IP address 46.148.40.143`,
	`2023-04-23 03:50:45 dovecot_login authenticator failed for (localhost) [46.148.40.143]:59474: 535 Incorrect authentication data (set_id=five)`,
	`2023-04-23 03:50:45 SMTP connection from (localhost) [46.148.40.143]:59474 lost D=2s`,
	`2023-04-23 03:51:10 H=(PC-SECCON) [38.25.17.152]:29733 F=<spam@example.biz> rejected RCPT <nobody@example.com>: relay not permitted`,
	`2023-04-23 03:51:11 H=(PC-SECCON) [38.25.17.152]:29733 rejected MAIL <db@example.com>: Access denied - Invalid HELO name (See RFC2821 4.1.1.1)`,
	`2023-04-23 03:52:00 1q0XjV-0004Fj-4e == eve@example.ru R=dnslookup T=remote_smtp defer (-44): SMTP error from remote mail server after RCPT TO:<eve@example.ru>: host mx.example.ru [192.0.2.99]: 450 4.2.1 Mailbox busy`,
	`2023-04-23 03:53:00 TLS error on connection from [46.148.40.146]:37824 SSL_accept: TCP connection closed by peer`,
	`2023-04-23 03:54:00 Start queue run: pid=22086`,
	`2023-04-23 03:54:00 End queue run: pid=22086`,
	`2023-04-23 03:55:00 1q0XjW-0004Fk-5f Spool file is locked (another process is handling this message)`,
}

// benchSink keeps the compiler from discarding the work.
var benchSink []byte

// benchEntries parses the entries in turn with one Parser and one Record,
// and, when encode is set, encodes each into one reused output buffer, as
// the pipeline does. SetBytes is the mean entry size, so ns/op and
// allocs/op are per entry.
func benchEntries(b *testing.B, entries [][]byte, encode bool) {
	size := 0
	for _, e := range entries {
		size += len(e)
	}
	p := NewParser(Options{Location: time.UTC})
	var r Record
	buf := make([]byte, 0, 1<<16)
	b.SetBytes(int64(size / len(entries)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Parse(entries[i%len(entries)], &r)
		if encode {
			buf = r.AppendJSON(buf[:0])
		}
	}
	benchSink = buf
	if !encode {
		benchSink = r.Original
	}
}

func benchMixEntries() [][]byte {
	lines := make([][]byte, len(benchMix))
	for i, l := range benchMix {
		lines[i] = []byte(l)
	}
	return lines
}

// BenchmarkParse parses and encodes the mix.
func BenchmarkParse(b *testing.B) { benchEntries(b, benchMixEntries(), true) }

// BenchmarkParseOnly measures Parse without encoding.
func BenchmarkParseOnly(b *testing.B) { benchEntries(b, benchMixEntries(), false) }

// BenchmarkFixtures runs over every case of testdata/cases.txt (all line
// kinds, including the rare ones).
func BenchmarkFixtures(b *testing.B) {
	var entries [][]byte
	for _, f := range loadFixtures(b) {
		entries = append(entries, f.input)
	}
	benchEntries(b, entries, true)
}

// BenchmarkCorpus parses and encodes every entry of the public corpus (see
// TestCorpus; skipped when absent): the whole variety of real lines.
func BenchmarkCorpus(b *testing.B) {
	dir := corpusDir(nil)
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("corpus not present at %s: %v", dir, err)
	}
	var entries [][]byte
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".md") {
			return err
		}
		entries = append(entries, readEntries(b, path, strings.Contains(path, "rejectlog"))...)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	benchEntries(b, entries, true)
}
