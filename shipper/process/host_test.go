package process

import (
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
)

// TestHostName: host.name comes from the envelope or the syslog header,
// else Config.Host (exim.host), else the Kafka key when it looks like a
// host name; it is lower-cased, and error documents carry it too.
func TestHostName(t *testing.T) {
	const line = "2024-06-29 16:04:19 1sDcEe-000000004BC-0oYZ Completed"
	cases := []struct {
		name, host, key, value string
		want                   any // nil: no host.name
	}{
		{"envelope wins", "cfg", "KeyHost", `{"message":"` + line + `","host":{"name":"MX1.Example.org"}}`, "mx1.example.org"},
		{"syslog header wins", "cfg", "KeyHost", "<22>Jun 29 16:04:19 Mail-A exim[1234]: " + line, "mail-a"},
		{"config before key", "MX.Config", "keyhost", line, "mx.config"},
		{"key", "", "Relay-7.Example.NET", line, "relay-7.example.net"},
		{"binary key", "", "\x00\x01\xfe", line, nil},
		{"key with blanks", "", "not a host", line, nil},
		{"numeric key", "", "4711", line, nil},
		{"no key", "", "", line, nil},
		{"error document", "", "MX9", `{"message": broken`, "mx9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newProc(t, Config{Host: c.host})
			docs, err := p.Process(shipper.Message{Position: pos, Key: []byte(c.key), Value: []byte(c.value), Time: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 1 {
				t.Fatalf("%d documents", len(docs))
			}
			m := doc(t, docs[0])
			if got := get(m, "host", "name"); got != c.want {
				t.Errorf("host.name %v, want %v in %s", got, c.want, docs[0].Body)
			}
			if got := get(m, "ecs", "version"); got != "8.17.0" {
				t.Errorf("ecs.version %v in %s", got, docs[0].Body)
			}
		})
	}
	// The key of each message counts, not the first one seen.
	p := newProc(t, Config{})
	for _, k := range []string{"a.example", "b.example", "", "b.example"} {
		docs, err := p.Process(shipper.Message{Position: pos, Key: []byte(k), Value: []byte(line)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want any = k
		if k == "" {
			want = nil
		}
		if got := get(doc(t, docs[0]), "host", "name"); got != want {
			t.Errorf("key %q: host.name %v", k, got)
		}
	}
}

func TestConfigHostValidate(t *testing.T) {
	for _, h := range []string{"mx 1", "a\nb", "\xff"} {
		if err := (&Config{Host: h}).Validate(); err == nil {
			t.Errorf("host %q accepted", h)
		}
	}
	if err := (&Config{Host: "mx1.example.org"}).Validate(); err != nil {
		t.Error(err)
	}
}
