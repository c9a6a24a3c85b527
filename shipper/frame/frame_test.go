package frame

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// got is a copy of an Entry, comparable in tests.
type got struct {
	Text, Original string
	Host, File     string
	Program        string
	PID            int
	Time           string
	Dataset        Dataset
	Format         Format
	Line           int64
	Seq            int
	Lines          []int64
	Orphan         bool
	Err            error
}

func (g got) String() string {
	return fmt.Sprintf("{Text:%q Orig:%q Host:%q File:%q Prog:%q PID:%d Time:%s DS:%v Fmt:%v Line:%d Seq:%d Lines:%v Orphan:%v Err:%v}",
		g.Text, g.Original, g.Host, g.File, g.Program, g.PID, g.Time, g.Dataset, g.Format, g.Line, g.Seq, g.Lines, g.Orphan, g.Err)
}

func copyEntry(e *Entry) got {
	g := got{
		Text: string(e.Text), Original: string(e.Original),
		Host: e.HostName, File: e.FilePath, Program: e.Program, PID: e.PID,
		Dataset: e.Dataset, Format: e.Format, Line: e.Line, Seq: e.Seq,
		Lines: append([]int64(nil), e.Lines...), Orphan: e.Orphan, Err: e.Err,
	}
	if !e.Time.IsZero() {
		g.Time = e.Time.Format(time.RFC3339Nano)
	}
	return g
}

var (
	berlin, _ = time.LoadLocation("Europe/Berlin")
	refTime   = time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
)

func assemble(t testing.TB, c Config, input string) []got {
	t.Helper()
	a, err := NewAssembler(c)
	if err != nil {
		t.Fatal(err)
	}
	a.SetReference(refTime)
	var out []got
	if err := a.ReadLines(strings.NewReader(input), func(e *Entry) { out = append(out, copyEntry(e)) }); err != nil {
		t.Fatal(err)
	}
	return out
}

const rejectEntry = `2024-06-29 16:04:19 1rABCD-000123-AB F=<userx@test1> rejected by non-SMTP ACL: don't like sender
Envelope-from: <userx@test1>
Envelope-to: <userx@test.ex>
P Received: from CALLER by myhost.test.ex with local (Exim 4.97)
	(envelope-from <userx@test1>)
	id 1rABCD-000123-AB
I Message-Id: <E1rABCD-000123-AB@myhost.test.ex>
F From: userx@test1
  Date: Sat, 29 Jun 2024 16:04:19 +0000
*** truncated ***`

type frameCase struct {
	name  string
	cfg   Config
	input string
	want  []got
}

var frameCases = []frameCase{
	{
		name:  "plain main lines, CRLF and blank lines",
		input: "2024-06-29 16:04:19 Start queue run: pid=1\r\n\n2024-06-29 16:04:20 End queue run: pid=1\n",
		want: []got{
			{Text: "2024-06-29 16:04:19 Start queue run: pid=1", Original: "2024-06-29 16:04:19 Start queue run: pid=1", Line: 1, Lines: []int64{1}},
			{Text: "2024-06-29 16:04:20 End queue run: pid=1", Original: "2024-06-29 16:04:20 End queue run: pid=1", Line: 3, Lines: []int64{3}},
		},
	},
	{
		name:  "reject log multi-line entry",
		input: rejectEntry + "\n2024-06-29 16:04:20 H=[10.0.0.1] rejected connection in \"connect\" ACL\n",
		want: []got{
			{Text: rejectEntry, Original: rejectEntry, Dataset: DatasetReject, Line: 1, Lines: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			{Text: `2024-06-29 16:04:20 H=[10.0.0.1] rejected connection in "connect" ACL`, Original: `2024-06-29 16:04:20 H=[10.0.0.1] rejected connection in "connect" ACL`, Line: 11, Lines: []int64{11}},
		},
	},
	{
		name:  "file path hints the dataset; indented panic continuation",
		cfg:   Config{FilePath: "/var/log/exim4/paniclog"},
		input: "2024-06-29 16:04:19 Exim configuration error in line 12 of /etc/exim4/exim4.conf:\n  missing quote at end of string value for hold_domains\n",
		want: []got{{
			Text:     "2024-06-29 16:04:19 Exim configuration error in line 12 of /etc/exim4/exim4.conf:\n  missing quote at end of string value for hold_domains",
			Original: "2024-06-29 16:04:19 Exim configuration error in line 12 of /etc/exim4/exim4.conf:\n  missing quote at end of string value for hold_domains",
			File:     "/var/log/exim4/paniclog", Dataset: DatasetPanic, Line: 1, Lines: []int64{1, 2},
		}},
	},
	{
		name:  "orphan continuation line",
		input: "Envelope-from: <a@b.example>\n",
		want:  []got{{Text: "Envelope-from: <a@b.example>", Original: "Envelope-from: <a@b.example>", Dataset: DatasetReject, Line: 1, Lines: []int64{1}, Orphan: true}},
	},
	{
		name:  "rfc3164 without exim timestamp",
		cfg:   Config{Location: berlin},
		input: "Jun 29 16:04:19 server exim[1234]: H=test.com [1.2.3.4]:53343 F=<info@test.com> rejected RCPT <toto@toto.com>: relay not permitted\n",
		want: []got{{
			Text:     "H=test.com [1.2.3.4]:53343 F=<info@test.com> rejected RCPT <toto@toto.com>: relay not permitted",
			Original: "Jun 29 16:04:19 server exim[1234]: H=test.com [1.2.3.4]:53343 F=<info@test.com> rejected RCPT <toto@toto.com>: relay not permitted",
			Host:     "server", Program: "exim", PID: 1234, Time: "2024-06-29T16:04:19+02:00", Format: FormatRFC3164, Line: 1, Lines: []int64{1},
		}},
	},
	{
		name:  "rfc3164 with PRI, padded day, exim timestamp kept, no host",
		cfg:   Config{Location: time.UTC},
		input: "<21>Jun  9 16:04:19 exim[77]: 2024-06-09 16:04:19 H=[1.2.3.4] rejected EHLO or HELO x\n",
		want: []got{{
			Text:     "2024-06-09 16:04:19 H=[1.2.3.4] rejected EHLO or HELO x",
			Original: "<21>Jun  9 16:04:19 exim[77]: 2024-06-09 16:04:19 H=[1.2.3.4] rejected EHLO or HELO x",
			Program:  "exim", PID: 77, Time: "2024-06-09T16:04:19Z", Dataset: DatasetReject, Format: FormatRFC3164, Line: 1, Lines: []int64{1},
		}},
	},
	{
		name:  "rfc5424 with structured data and BOM",
		input: "<22>1 2024-06-29T16:04:19.123+02:00 mx exim 1234 - [meta x=\"a\\]b\"] \xEF\xBB\xBF1rABCD-000123-AB Completed\n",
		want: []got{{
			Text:     "1rABCD-000123-AB Completed",
			Original: "<22>1 2024-06-29T16:04:19.123+02:00 mx exim 1234 - [meta x=\"a\\]b\"] \xEF\xBB\xBF1rABCD-000123-AB Completed",
			Host:     "mx", Program: "exim", PID: 1234, Time: "2024-06-29T16:04:19.123+02:00", Dataset: DatasetMain, Format: FormatRFC5424, Line: 1, Lines: []int64{1},
		}},
	},
	{
		name:  "rsyslog high precision",
		input: "2024-06-29T16:04:19.123456+02:00 mx exim[1234]: 1rABCD-000123-AB => a@b.example R=r T=t\n",
		want: []got{{
			Text:     "1rABCD-000123-AB => a@b.example R=r T=t",
			Original: "2024-06-29T16:04:19.123456+02:00 mx exim[1234]: 1rABCD-000123-AB => a@b.example R=r T=t",
			Host:     "mx", Program: "exim", PID: 1234, Time: "2024-06-29T16:04:19.123456+02:00", Format: FormatISOSyslog, Line: 1, Lines: []int64{1},
		}},
	},
	{
		name:  "iso date with space and exim tag; host and tag without time",
		cfg:   Config{Location: time.UTC},
		input: "2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: dovecot_login authenticator failed for (User) [192.0.2.37]: 535 Incorrect authentication data\nmail.example.com exim[3751842]: 2021-07-17 23:20:49 plain_server authenticator failed\n",
		want: []got{
			{
				Text:     "dovecot_login authenticator failed for (User) [192.0.2.37]: 535 Incorrect authentication data",
				Original: "2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: dovecot_login authenticator failed for (User) [192.0.2.37]: 535 Incorrect authentication data",
				Host:     "mx1.fqdn.local", Program: "exim", PID: 29786, Time: "2019-10-22T03:39:17Z", Format: FormatISOSyslog, Line: 1, Lines: []int64{1},
			},
			{
				Text:     "2021-07-17 23:20:49 plain_server authenticator failed",
				Original: "mail.example.com exim[3751842]: 2021-07-17 23:20:49 plain_server authenticator failed",
				Host:     "mail.example.com", Program: "exim", PID: 3751842, Format: FormatHostTag, Line: 2, Lines: []int64{2},
			},
		},
	},
	{
		name:  "exim text that looks like a syslog prefix stays plain",
		input: "2024-06-29 16:04:19 TLS error: (SSL_accept): error\n2024-06-29 16:04:19 [1234] cwd=/ 3 args: x\n",
		want: []got{
			{Text: "2024-06-29 16:04:19 TLS error: (SSL_accept): error", Original: "2024-06-29 16:04:19 TLS error: (SSL_accept): error", Line: 1, Lines: []int64{1}},
			{Text: "2024-06-29 16:04:19 [1234] cwd=/ 3 args: x", Original: "2024-06-29 16:04:19 [1234] cwd=/ 3 args: x", Line: 2, Lines: []int64{2}},
		},
	},
	{
		name: "syslog pieces reassembled across interleaved lines",
		cfg:  Config{Location: time.UTC},
		input: "Jun 29 16:04:19 mx exim[1]: [1/3] H=a [1.2.3.4] F=<a@b>\n" +
			"Jun 29 16:04:19 mx exim[2]: other line\n" +
			"Jun 29 16:04:19 mx exim[1]: [2/3]  rejected RCPT <c@d>: \n" +
			"Jun 29 16:04:19 mx exim[1]: [3/3] too long\n",
		want: []got{
			{Text: "other line", Original: "Jun 29 16:04:19 mx exim[2]: other line", Host: "mx", Program: "exim", PID: 2, Time: "2024-06-29T16:04:19Z", Format: FormatRFC3164, Line: 2, Lines: []int64{2}},
			{
				Text: "H=a [1.2.3.4] F=<a@b> rejected RCPT <c@d>: too long",
				Original: "Jun 29 16:04:19 mx exim[1]: [1/3] H=a [1.2.3.4] F=<a@b>\n" +
					"Jun 29 16:04:19 mx exim[1]: [2/3]  rejected RCPT <c@d>: \n" +
					"Jun 29 16:04:19 mx exim[1]: [3/3] too long",
				Host: "mx", Program: "exim", PID: 1, Time: "2024-06-29T16:04:19Z", Format: FormatRFC3164, Line: 1, Lines: []int64{1, 3, 4},
			},
		},
	},
	{
		name: "syslog newline pieces of a reject entry",
		cfg:  Config{Location: time.UTC},
		input: "<173>Jun 29 16:04:19 mx exim[5]: [1\\3] 2024-06-29 16:04:19 F=<a@b> rejected after DATA\n" +
			"<173>Jun 29 16:04:19 mx exim[5]: [2\\3] Envelope-from: <a@b>\n" +
			"<173>Jun 29 16:04:19 mx exim[5]: [3/3] Envelope-to: <c@d>\n",
		want: []got{{
			Text: "2024-06-29 16:04:19 F=<a@b> rejected after DATA\nEnvelope-from: <a@b>\nEnvelope-to: <c@d>",
			Original: "<173>Jun 29 16:04:19 mx exim[5]: [1\\3] 2024-06-29 16:04:19 F=<a@b> rejected after DATA\n" +
				"<173>Jun 29 16:04:19 mx exim[5]: [2\\3] Envelope-from: <a@b>\n" +
				"<173>Jun 29 16:04:19 mx exim[5]: [3/3] Envelope-to: <c@d>",
			Host: "mx", Program: "exim", PID: 5, Time: "2024-06-29T16:04:19Z", Dataset: DatasetReject, Format: FormatRFC3164, Line: 1, Lines: []int64{1, 2, 3},
		}},
	},
	{
		name:  "incomplete and orphan pieces are delivered with an error",
		cfg:   Config{Location: time.UTC},
		input: "Jun 29 16:04:19 mx exim[1]: [2/3] middle\nJun 29 16:04:19 mx exim[1]: [1/3] first\n",
		want: []got{
			{Text: "middle", Original: "Jun 29 16:04:19 mx exim[1]: [2/3] middle", Host: "mx", Program: "exim", PID: 1, Time: "2024-06-29T16:04:19Z", Format: FormatRFC3164, Line: 1, Lines: []int64{1}, Err: ErrIncomplete},
			{Text: "first", Original: "Jun 29 16:04:19 mx exim[1]: [1/3] first", Host: "mx", Program: "exim", PID: 1, Time: "2024-06-29T16:04:19Z", Format: FormatRFC3164, Line: 2, Lines: []int64{2}, Err: ErrIncomplete},
		},
	},
	{
		name:  "filebeat envelope, nested keys, multiline message",
		input: `{"@timestamp":"2024-06-29T14:04:19.500Z","message":"2024-06-29 16:04:19 F=<a@b> rejected after DATA\nEnvelope-from: <a@b>\n2024-06-29 16:04:20 second","host":{"name":"mx1"},"log":{"offset":5,"file":{"path":"/var/log/exim4/rejectlog"}}}` + "\n",
		want: []got{
			{Text: "2024-06-29 16:04:19 F=<a@b> rejected after DATA\nEnvelope-from: <a@b>", Original: "2024-06-29 16:04:19 F=<a@b> rejected after DATA\nEnvelope-from: <a@b>", Host: "mx1", File: "/var/log/exim4/rejectlog", Time: "2024-06-29T14:04:19.5Z", Dataset: DatasetReject, Line: 1, Lines: []int64{1}},
			{Text: "2024-06-29 16:04:20 second", Original: "2024-06-29 16:04:20 second", Host: "mx1", File: "/var/log/exim4/rejectlog", Time: "2024-06-29T14:04:19.5Z", Dataset: DatasetReject, Line: 1, Seq: 1, Lines: []int64{1}},
		},
	},
	{
		name:  "filebeat dotted keys and vector envelope carrying syslog",
		cfg:   Config{Location: time.UTC},
		input: `{"message":"2024-06-29 16:04:19 x","host.name":"mx2","log.file.path":"/var/log/exim4/mainlog"}` + "\n" + `{"message":"Jun 29 16:04:19 mx9 exim[3]: y","host":"collector","file":"/var/log/mail.log","timestamp":"2024-06-29T16:04:20Z"}` + "\n",
		want: []got{
			{Text: "2024-06-29 16:04:19 x", Original: "2024-06-29 16:04:19 x", Host: "mx2", File: "/var/log/exim4/mainlog", Dataset: DatasetMain, Line: 1, Lines: []int64{1}},
			{Text: "y", Original: "Jun 29 16:04:19 mx9 exim[3]: y", Host: "mx9", File: "/var/log/mail.log", Program: "exim", PID: 3, Time: "2024-06-29T16:04:19Z", Format: FormatRFC3164, Line: 2, Lines: []int64{2}},
		},
	},
	{
		name:  "broken envelope keeps the raw bytes",
		input: `{"message": "2024-06-29 16:04:19 x` + "\n" + `{"nomessage":1}` + "\n",
		want: []got{
			{Text: `{"message": "2024-06-29 16:04:19 x`, Original: `{"message": "2024-06-29 16:04:19 x`, Line: 1, Lines: []int64{1}, Err: ErrEnvelope},
			{Text: `{"nomessage":1}`, Original: `{"nomessage":1}`, Line: 2, Lines: []int64{2}, Err: ErrEnvelope},
		},
	},
	{
		name:  "overlong lines are split, nothing lost",
		cfg:   Config{MaxLine: 16},
		input: "2024-06-29 16:04:19 0123456789\nshort\n0123456789abcdef\n",
		want: []got{
			{Text: "2024-06-29 16:04", Original: "2024-06-29 16:04", Line: 1, Lines: []int64{1}, Err: ErrLineSplit},
			{Text: ":19 0123456789", Original: ":19 0123456789", Line: 1, Seq: 1, Lines: []int64{1}, Err: ErrLineSplit},
			{Text: "short", Original: "short", Line: 2, Lines: []int64{2}},
			{Text: "0123456789abcdef", Original: "0123456789abcdef", Line: 3, Lines: []int64{3}, Err: ErrLineSplit},
		},
	},
	{
		name:  "entry size bound",
		cfg:   Config{MaxEntry: 40},
		input: "2024-06-29 16:04:19 first line\nEnvelope-from: <a@b>\nEnvelope-to: <c@d>\n",
		want: []got{
			{Text: "2024-06-29 16:04:19 first line", Original: "2024-06-29 16:04:19 first line", Line: 1, Lines: []int64{1}, Err: ErrEntrySplit},
			{Text: "Envelope-from: <a@b>\nEnvelope-to: <c@d>", Original: "Envelope-from: <a@b>\nEnvelope-to: <c@d>", Dataset: DatasetReject, Line: 2, Lines: []int64{2, 3}, Orphan: true},
		},
	},
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return errors.Is(a, b) || errors.Is(b, a)
}

func compare(t *testing.T, got, want []got) {
	t.Helper()
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("got  %v", g)
		}
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !sameErr(g.Err, w.Err) {
			t.Errorf("entry %d: err %v, want %v", i, g.Err, w.Err)
		}
		g.Err, w.Err = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("entry %d:\n got  %v\n want %v", i, g, w)
		}
	}
}

func TestAssembler(t *testing.T) {
	for _, tc := range frameCases {
		t.Run(tc.name, func(t *testing.T) {
			compare(t, assemble(t, tc.cfg, tc.input), tc.want)
		})
	}
}

func TestYearInference(t *testing.T) {
	for _, tc := range []struct {
		ref  time.Time
		line string
		want string
	}{
		{time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), "Dec 31 23:59:59 h exim: x", "2024-12-31T23:59:59Z"},
		{time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC), "Jan  1 00:00:01 h exim: x", "2025-01-01T00:00:01Z"},
		{time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), "Feb 29 10:00:00 h exim: x", "2024-02-29T10:00:00Z"},
		{time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "Feb 29 10:00:00 h exim: x", "2024-02-29T10:00:00Z"},
	} {
		f, _ := NewFramer(Config{Location: time.UTC})
		var g []got
		f.Message([]byte(tc.line), tc.ref, func(e *Entry) { g = append(g, copyEntry(e)) })
		if len(g) != 1 || g[0].Time != tc.want {
			t.Errorf("%q at %v: got %v, want time %s", tc.line, tc.ref, g, tc.want)
		}
	}
}

func TestFramerMessageIsStateless(t *testing.T) {
	f, err := NewFramer(Config{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var g []got
	emit := func(e *Entry) { g = append(g, copyEntry(e)) }
	// A piece sequence split over messages is not joined: each message's
	// entries depend on that message alone.
	f.Message([]byte("Jun 29 16:04:19 mx exim[1]: [1/2] a"), refTime, emit)
	f.Message([]byte("Jun 29 16:04:19 mx exim[1]: [2/2] b"), refTime, emit)
	// A multi-line message is one reject entry.
	f.Message([]byte(rejectEntry+"\n"), refTime, emit)
	// A continuation line alone is an orphan entry.
	f.Message([]byte("Envelope-to: <c@d>"), refTime, emit)
	if len(g) != 4 {
		t.Fatalf("got %d entries: %v", len(g), g)
	}
	if !errors.Is(g[0].Err, ErrIncomplete) || !errors.Is(g[1].Err, ErrIncomplete) || g[0].Text != "a" || g[1].Text != "b" {
		t.Errorf("pieces: %v %v", g[0], g[1])
	}
	if g[2].Text != rejectEntry || g[2].Dataset != DatasetReject || g[2].Err != nil || len(g[2].Lines) != 10 {
		t.Errorf("reject entry: %v", g[2])
	}
	if !g[3].Orphan || g[3].Line != 1 || g[3].Dataset != DatasetReject {
		t.Errorf("orphan: %v", g[3])
	}
}

func TestIsContinuation(t *testing.T) {
	yes := []string{"Envelope-from: <a@b>", "Envelope-to: <a@b>", "P Received: from x", "I Message-Id: <x>", "F From: a", "T To: a", "* X-Deleted: y", "  Date: x", "\tid 1", "*** truncated ***", "R reply-to: x"}
	no := []string{"", "2024-06-29 16:04:19 x", "H=a rejected", "X Foo: bar", "P Received", "P  Received: x", "Envelope: x", "**** x", "1rABCD-000123-AB Completed"}
	for _, s := range yes {
		if !IsContinuation([]byte(s)) {
			t.Errorf("IsContinuation(%q) = false", s)
		}
	}
	for _, s := range no {
		if IsContinuation([]byte(s)) {
			t.Errorf("IsContinuation(%q) = true", s)
		}
	}
}

func TestDatasetFromPath(t *testing.T) {
	for p, want := range map[string]Dataset{
		"/var/log/exim4/mainlog":          DatasetMain,
		"/var/log/exim_mainlog":           DatasetMain,
		"/var/log/exim4/rejectlog.2.gz":   DatasetReject,
		`C:\logs\paniclog`:                DatasetPanic,
		"/var/log/mail.log":               DatasetUnknown,
		"/var/log/main/rejectlog":         DatasetReject,
		"/var/log/exim4/mainlog-20240601": DatasetMain,
	} {
		if got := DatasetFromPath(p); got != want {
			t.Errorf("DatasetFromPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{MaxLine: -1}, {MaxEntry: -1}, {MaxPending: -1}, {Dataset: 9}} {
		if c.Validate() == nil {
			t.Errorf("%+v: no error", c)
		}
		if _, err := NewAssembler(c); err == nil {
			t.Errorf("%+v: NewAssembler accepted it", c)
		}
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestIndependentLines(t *testing.T) {
	in := rejectEntry + "\nJun 29 16:04:19 mx exim[1]: [1/2] a\nJun 29 16:04:19 mx exim[1]: [2/2] b\n"
	g := assemble(t, Config{Independent: true, Location: time.UTC}, in)
	if len(g) != 12 {
		t.Fatalf("got %d entries, want one per line (12): %v", len(g), g)
	}
	f, _ := NewFramer(Config{Location: time.UTC})
	for i, l := range strings.Split(strings.TrimSuffix(in, "\n"), "\n") {
		var m []got
		f.Message([]byte(l), refTime, func(e *Entry) { m = append(m, copyEntry(e)) })
		m[0].Line, m[0].Lines = int64(i+1), []int64{int64(i + 1)}
		g[i].Err, m[0].Err = nil, nil // same kinds, wrapped separately
		if !reflect.DeepEqual(g[i], m[0]) {
			t.Errorf("line %d: assembler %v, framer %v", i+1, g[i], m[0])
		}
	}
}
