package eximlab

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

func TestSinkReplies(t *testing.T) {
	s, err := StartSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()))
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{conn: conn, r: bufio.NewReader(conn), Timeout: 5 * time.Second}
	defer c.Close()
	steps := []struct {
		cmd  string
		want int
	}{
		{"", 220}, {"EHLO me", 250}, {"MAIL FROM:<a@b>", 250},
		{"RCPT TO:<ok@partner.test>", 250}, {"RCPT TO:<nobody@partner.test>", 550},
		{"RCPT TO:<busy@partner.test>", 451}, {"BOGUS", 500},
	}
	for _, st := range steps {
		var rep Reply
		if st.cmd == "" {
			rep, err = c.Expect(st.want)
		} else {
			rep, err = c.Cmd(st.want, st.cmd)
		}
		if err != nil {
			t.Fatalf("%q: %v", st.cmd, err)
		}
		if st.cmd == "EHLO me" && !strings.Contains(rep.Text, "SIZE") {
			t.Errorf("EHLO reply %q lacks its second line", rep.Text)
		}
	}
	rep, err := c.Data(250, "Subject: x\n\n.dot line\nbody\n")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Text != "2.0.0 OK id=sink-1" || s.Messages() != 1 {
		t.Errorf("DATA reply %q, messages %d", rep.Text, s.Messages())
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestReplicate(t *testing.T) {
	in := []byte("2026-11-25 10:00:00 1xWGQT-0003TH-0x <= a@b H=[127.0.0.1] P=esmtp S=1\n" +
		"2026-11-25 10:00:01 H=[127.0.0.2] F=<x@y> rejected after DATA: no\n" +
		"Envelope-from: <x@y>\n" +
		"2026-11-25 10:00:09 1xWGQT-0003TH-0x Completed\n")
	var out bytes.Buffer
	n, err := Replicate(in, &out, 10)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if n != 12 || len(lines) != 12 {
		t.Fatalf("wrote %d lines (%d), want 3 copies of 4 = 12", n, len(lines))
	}
	if out.String()[:len(in)] != string(in) {
		t.Errorf("first copy must be the input")
	}
	// Copy 1 is shifted by the span (9s) + 1s; its ids are remapped but
	// consistent within the copy and different from copy 0's.
	if !strings.HasPrefix(lines[4], "2026-11-25 10:00:10 ") || !strings.HasPrefix(lines[7], "2026-11-25 10:00:19 ") {
		t.Errorf("copy 1 not shifted by 10s:\n%s\n%s", lines[4], lines[7])
	}
	id1, id2 := lines[4][20:36], lines[7][20:36]
	if id1 != id2 || id1 == "1xWGQT-0003TH-0x" || !strings.HasPrefix(id1, "1xWGQT-") || !strings.HasSuffix(id1, "-0x") {
		t.Errorf("remapped ids %q %q", id1, id2)
	}
	if lines[6] != "Envelope-from: <x@y>" {
		t.Errorf("continuation line changed: %q", lines[6])
	}
	if lines[8][20:36] == id1 {
		t.Errorf("copy 2 reuses copy 1's id")
	}
}

// TestLabIntegration starts a real Exim and checks one accepted message
// and one relay rejection reach the main log.
func TestLabIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if _, err := FindExim(); err != nil {
		stacktest.Skip(t, "%v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := Start(ctx, Config{LogSelector: "+all"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = RunScript(ctx, l, []Session{
		{"ok", mailSession("127.0.0.10", "client.partner.test", "bob@"+PartnerDomain,
			[]rcpt{r("alice@"+LocalDomain, 250)}, Message("bob@"+PartnerDomain, "alice@"+LocalDomain, "hi", "t1"), 250)},
		{"relay", mailSession("127.0.0.20", "ylmf-pc", "root@"+LocalDomain,
			[]rcpt{r("victim@gmail.example", 550)}, "", 0)},
		{"queue", func(ctx context.Context, l *Lab) error { return l.RunQueue(ctx) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(l.LogPath("mainlog"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		" <= bob@partner.test H=(client.partner.test) [127.0.0.10]:",
		" F=<root@example.org> rejected RCPT <victim@gmail.example>: relay not permitted",
		" => alice <alice@example.org> F=<bob@partner.test>",
		" Completed QT=",
	} {
		if !strings.Contains(string(log), want) {
			t.Errorf("main log lacks %q:\n%s", want, log)
		}
	}
}
