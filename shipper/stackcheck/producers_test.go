package stackcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/process"
	"github.com/eximship/eximship/shipper/stacktest"
)

// eximLines returns n distinct Exim-like main log lines (with the
// characters producers might mangle: quotes, brackets, a tab, UTF-8).
func eximLines(n int) []string {
	out := make([]string, n)
	for i := range out {
		switch i % 3 {
		case 0:
			out[i] = fmt.Sprintf(`2026-11-25 10:%02d:%02d 1vX%06d-000000-AB <= s%d@example.org H=(helo) [192.0.2.%d] P=esmtp S=%d id=<%d@example.org> T="Report für Q%d"`, i/60%60, i%60, i, i, i%250+1, 1000+i, i, i)
		case 1:
			out[i] = fmt.Sprintf("2026-11-25 10:%02d:%02d H=(x) [198.51.100.%d] F=<spam%d@example.net> rejected RCPT <victim%d@example.com>: relay not permitted\twith tab", i/60%60, i%60, i%250+1, i, i)
		default:
			out[i] = fmt.Sprintf("2026-11-25 10:%02d:%02d 1vX%06d-000000-AB Completed", i/60%60, i%60, i)
		}
	}
	return out
}

func writeLog(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mainlog")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("write log: %v", err)
	}
	return path
}

// checkSameLines fails unless got holds exactly the lines of want (same
// multiset; order across partitions is not defined).
func checkSameLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("consumed %d messages, want %d", len(got), len(want))
	}
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	for i := range w {
		if g[i] != w[i] {
			t.Fatalf("consumed lines differ from the log:\n got %q\nwant %q", g[i], w[i])
		}
	}
}

func values(ms []kafka.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Value)
	}
	return out
}

func lookPath(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		stacktest.Skip(t, "%s not installed (Debian package %s; scripts/install-deps installs it)", name, pkg)
	}
	return p
}

// TestKcatProducerIntegration ships a log file into Kafka with kcat (one
// message per line, as `kcat -P -l FILE` does for users) and consumes it
// back with a kafka-go consumer group: same lines, same count.
func TestKcatProducerIntegration(t *testing.T) {
	brokers, topic := stacktest.NewTopic(t, 3)
	kcat := lookPath(t, "kcat", "kcat")
	lines := eximLines(500)
	path := writeLog(t, lines)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-P", "-b", strings.Join(brokers, ","), "-t", topic, "-l", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	got := consumeGroup(t, brokers, topic, topic+"-g", len(lines), 100, time.Minute)
	checkSameLines(t, values(got), lines)
	if n := topicSize(t, brokers, topic); n != int64(len(lines)) {
		t.Fatalf("topic holds %d messages, want exactly %d", n, len(lines))
	}
}

// TestRsyslogOmkafkaProducerIntegration runs a private rsyslogd (imfile ->
// omkafka, config scripts/stack.d/rsyslog-omkafka.conf.in, its own pid file
// and work dir) tailing a growing Exim log, once per output template (the
// raw line; a Filebeat-style JSON envelope), and checks that every line,
// including those appended while it runs, arrives unchanged exactly once.
// The rejectlog case tails a real Exim reject log, whose entries span
// several lines: each entry must arrive as one message, and become one
// document with its envelope and headers.
func TestRsyslogOmkafkaProducerIntegration(t *testing.T) {
	for _, template := range []string{"eximship_raw", "eximship_envelope"} {
		t.Run(template, func(t *testing.T) {
			lines := eximLines(300)
			testRsyslog(t, template, "mainlog", lines, 200, lines)
		})
	}
	t.Run("rejectlog", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(repoRoot(t), "shipper", "exim", "testdata", "real", "default", "rejectlog"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		// entries: a line with Exim's timestamp starts one (the rsyslog
		// config's startmsg.regex)
		var entries []string
		split, multi := 0, 0
		for i, l := range lines {
			if len(l) >= 19 && l[4] == '-' && l[10] == ' ' && l[13] == ':' {
				if i <= len(lines)/2 {
					split = i // append from an entry boundary
				}
				entries = append(entries, l)
				continue
			}
			if len(entries) == 0 {
				t.Fatalf("reject log starts with a continuation line: %q", l)
			}
			if !strings.Contains(entries[len(entries)-1], "\n") {
				multi++
			}
			entries[len(entries)-1] += "\n" + l
		}
		if multi == 0 {
			t.Fatal("the reject log capture has no multi-line entry")
		}
		got := testRsyslog(t, "eximship_envelope", "rejectlog", lines, split, entries)
		p, err := process.New(process.Config{Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		withHeaders := 0
		for i, v := range got {
			docs, err := p.Process(shipper.Message{Position: shipper.Position{Topic: "t", Offset: int64(i)}, Value: []byte(v)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 1 {
				t.Fatalf("message %q made %d documents, want 1", v, len(docs))
			}
			var doc struct {
				Error *struct{ Message string } `json:"error"`
				Exim  struct {
					Reject struct {
						EnvelopeFrom string `json:"envelope_from"`
						Headers      string `json:"headers"`
					} `json:"reject"`
				} `json:"exim"`
			}
			if err := json.Unmarshal(docs[0].Body, &doc); err != nil {
				t.Fatal(err)
			}
			// error.code alone (the SMTP code of a rejection) is no error
			if doc.Error != nil && doc.Error.Message != "" {
				t.Errorf("document of %q has error.message %q", v, doc.Error.Message)
			}
			if strings.Contains(v, "\nEnvelope-from:") {
				if doc.Exim.Reject.EnvelopeFrom == "" || doc.Exim.Reject.Headers == "" {
					t.Errorf("multi-line entry without envelope or headers: %s", docs[0].Body)
				}
				withHeaders++
			}
		}
		if withHeaders != multi {
			t.Fatalf("%d documents with the reject-log envelope and headers, want %d", withHeaders, multi)
		}
		t.Logf("%d lines -> %d messages -> %d documents, %d with headers", len(lines), len(got), len(got), withHeaders)
	})
}

// testRsyslog writes lines[:split] to a log file named name, starts
// rsyslogd on it, appends the rest, and checks that the topic then holds
// exactly the messages want (in any order). It returns them (the envelope's
// message for eximship_envelope).
func testRsyslog(t *testing.T, template, name string, lines []string, split int, want []string) []string {
	brokers, topic := stacktest.NewTopic(t, 3)
	rsyslogd := lookPath(t, "rsyslogd", "rsyslog")
	first, rest := lines[:split], lines[split:]
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Join(first, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("write log: %v", err)
	}
	work := t.TempDir()

	tmpl, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "stack.d", "rsyslog-omkafka.conf.in"))
	if err != nil {
		t.Fatalf("rsyslog config template: %v", err)
	}
	conf := strings.NewReplacer("@WORKDIR@", work, "@FILE@", path, "@TEMPLATE@", template,
		"@BROKERS@", strings.Join(brokers, ","), "@TOPIC@", topic).Replace(string(tmpl))
	confPath := filepath.Join(work, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rsyslogd, "-N1", "-f", confPath).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "omkafka") {
			stacktest.Skip(t, "rsyslog cannot load omkafka (Debian package rsyslog-kafka): %s", out)
		}
		t.Fatalf("rsyslogd -N1 rejects the config: %v\n%s", err, out)
	}
	cmd := exec.Command(rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(work, "rsyslogd.pid"))
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	started := time.Now()
	t.Cleanup(func() {
		stop := time.Now()
		defer func() { t.Logf("rsyslogd stopped in %v", time.Since(stop).Round(time.Millisecond)) }()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", stderr.String())
		}
	})

	// Append the rest while rsyslog runs, as Exim does.
	time.Sleep(500 * time.Millisecond)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rest {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	msgs := consumeGroup(t, brokers, topic, topic+"-g", len(want), 100, 2*time.Minute)
	got := values(msgs)
	t.Logf("all %d messages consumed %v after rsyslogd started", len(want), time.Since(started).Round(time.Millisecond))
	checkKeyedByHost(t, msgs)
	if template == "eximship_envelope" {
		for i, v := range got {
			var e envelope
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				t.Fatalf("rsyslog envelope is not JSON: %v: %s", err, v)
			}
			if e.Log.File.Path != path || e.Host.Name == "" {
				t.Fatalf("envelope log.file.path %q host.name %q, want path %q and a host", e.Log.File.Path, e.Host.Name, path)
			}
			if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
				t.Fatalf("envelope @timestamp %q: %v", e.Timestamp, err)
			}
			got[i] = e.Message
		}
		// rsyslog's JSON encoding passes invalid UTF-8 through, which a
		// JSON decoder reads as U+FFFD
		want = slices.Clone(want)
		for i, w := range want {
			want[i] = strings.ToValidUTF8(w, "\uFFFD")
		}
	}
	checkSameLines(t, got, want)
	if !slices.Equal(got, want) {
		t.Fatal("the lines arrived in one partition, but not in the order of the log")
	}
	// Give rsyslog a moment to (wrongly) send anything extra, then check the
	// topic holds exactly the messages.
	time.Sleep(2 * time.Second)
	if n := topicSize(t, brokers, topic); n != int64(len(want)) {
		t.Fatalf("topic holds %d messages, want exactly %d", n, len(want))
	}
	return got
}

// checkKeyedByHost fails unless every message has this machine's host
// name as its key (the bundled rsyslog config keys by %hostname%) and all
// of them are in one partition, in the order rsyslog read the lines (the
// sessions of one Exim host need both).
func checkKeyedByHost(t *testing.T, msgs []kafka.Message) {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".") // rsyslog's %hostname% is the short name
	for _, m := range msgs {
		if string(m.Key) != host {
			t.Fatalf("message key %q, want the host name %q", m.Key, host)
		}
		if m.Partition != msgs[0].Partition {
			t.Fatalf("one host's messages in partitions %d and %d", msgs[0].Partition, m.Partition)
		}
	}
	t.Logf("%d messages keyed %q, all in partition %d", len(msgs), host, msgs[0].Partition)
}

// envelope is the JSON document Filebeat and Vector put on Kafka for a log
// line (the fields eximship reads).
type envelope struct {
	Timestamp string `json:"@timestamp"`
	Message   string `json:"message"`
	Host      struct {
		Name string `json:"name"`
	} `json:"host"`
	Log struct {
		File struct {
			Path string `json:"path"`
		} `json:"file"`
		Offset int64 `json:"offset"`
	} `json:"log"`
}

// TestJSONEnvelopeProducerIntegration produces Filebeat-style JSON
// envelopes with kafka-go (keyed by host, as shippers partition) and reads
// them back in a group: every line once, envelope fields intact, one host's
// lines in one partition in file order.
func TestJSONEnvelopeProducerIntegration(t *testing.T) {
	brokers, topic := stacktest.NewTopic(t, 6)
	lines := eximLines(1000)
	hosts := []string{"mx1.example.org", "mx2.example.org", "mx3.example.org"}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond}
	var msgs []kafka.Message
	var offset int64
	for i, l := range lines {
		var e envelope
		e.Timestamp = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		e.Message = l
		e.Host.Name = hosts[i%len(hosts)]
		e.Log.File.Path = "/var/log/exim4/mainlog"
		e.Log.Offset = offset
		offset += int64(len(l) + 1)
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(e.Host.Name), Value: b})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce envelopes: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := consumeGroup(t, brokers, topic, topic+"-g", len(lines), 200, time.Minute)
	var msgLines []string
	hostPart := map[string]int{}
	lastOffset := map[string]int64{}
	for _, m := range got {
		var e envelope
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatalf("not an envelope: %v: %s", err, m.Value)
		}
		if string(m.Key) != e.Host.Name || e.Log.File.Path != "/var/log/exim4/mainlog" {
			t.Fatalf("envelope fields changed: key %q host %q path %q", m.Key, e.Host.Name, e.Log.File.Path)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
			t.Fatalf("@timestamp %q: %v", e.Timestamp, err)
		}
		if p, ok := hostPart[e.Host.Name]; ok && p != m.Partition {
			t.Fatalf("host %s in partitions %d and %d", e.Host.Name, p, m.Partition)
		}
		hostPart[e.Host.Name] = m.Partition
		if lo, ok := lastOffset[e.Host.Name]; ok && e.Log.Offset <= lo {
			t.Fatalf("host %s: file offset %d after %d (order lost within a partition)", e.Host.Name, e.Log.Offset, lo)
		}
		lastOffset[e.Host.Name] = e.Log.Offset
		msgLines = append(msgLines, e.Message)
	}
	checkSameLines(t, msgLines, lines)
}

// repoRoot finds the module root (the directory holding go.mod).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}
