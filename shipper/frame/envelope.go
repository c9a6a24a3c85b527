package frame

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/eximship/eximship/shipper/internal/jsonscan"
)

// envelope is what a Filebeat or Vector JSON event tells. Its byte slices
// may point into the event.
type envelope struct {
	message []byte
	host    []byte
	file    []byte
	time    time.Time
}

var errNoMessage = errors.New(`no string "message" field`)

// parseEnvelope decodes a JSON event. Keys may be nested ({"host":{"name":
// ...}}) or dotted ("host.name"); Vector's "host" and "file" are strings.
// The event is validated with encoding/json, then only the few keys needed
// are located by a small scanner, without decoding the rest. As with
// encoding/json, the last of duplicate keys wins.
func parseEnvelope(b []byte) (envelope, error) {
	var env envelope
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return env, fmt.Errorf("%w: %w", ErrEnvelope, err)
	}
	var (
		msg, host, hostName, log, logPath, file, ts, ts2 []byte
		found                                            bool
	)
	eachKey(b, func(k, v []byte) {
		switch string(k) {
		case "message":
			msg, found = v, true
		case "host":
			host = v
		case "host.name":
			hostName = v
		case "log":
			log = v
		case "log.file.path":
			logPath = v
		case "file":
			file = v
		case "@timestamp":
			ts = v
		case "timestamp":
			ts2 = v
		}
	})
	var ok bool
	if env.message, ok = jsonString(msg); !found || !ok {
		return env, fmt.Errorf("%w: %w", ErrEnvelope, errNoMessage)
	}
	// host.name, {"host":{"name"}}, Vector's "host": "name"
	if env.host, ok = jsonString(hostName); !ok {
		if env.host, ok = jsonString(host); !ok {
			env.host = nestedString(host, "name")
		}
	}
	// log.file.path, {"log":{"file":{"path"}}}, {"log":{"file.path"}}, Vector's "file"
	if env.file, ok = jsonString(logPath); !ok {
		if env.file = nestedString(log, "file.path"); env.file == nil {
			var f []byte
			eachKey(log, func(k, v []byte) {
				if string(k) == "file" {
					f = v
				}
			})
			if env.file = nestedString(f, "path"); env.file == nil {
				env.file, _ = jsonString(file)
			}
		}
	}
	t, ok := jsonString(ts)
	if !ok {
		t, _ = jsonString(ts2)
	}
	if len(t) > 0 {
		if tt, n, ok := parseISOTime(t, time.UTC); ok && n == len(t) {
			env.time = tt
		}
	}
	return env, nil
}

// nestedString returns the string at key in the object obj, nil if none.
func nestedString(obj []byte, key string) []byte {
	var out []byte
	eachKey(obj, func(k, v []byte) {
		if string(k) == key {
			if s, ok := jsonString(v); ok {
				out = s
			} else {
				out = nil
			}
		}
	})
	return out
}

// eachKey calls f with every key (raw, without quotes) and raw value of the
// JSON object obj, which must be valid JSON; anything else calls nothing.
func eachKey(obj []byte, f func(k, v []byte)) {
	i := jsonscan.SkipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = jsonscan.SkipWS(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return
		}
		ke := jsonscan.SkipString(obj, i)
		if ke < 0 {
			return
		}
		key := obj[i+1 : ke-1]
		i = jsonscan.SkipWS(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = jsonscan.SkipWS(obj, i+1)
		ve := jsonscan.SkipValue(obj, i)
		if ve < 0 {
			return
		}
		f(key, obj[i:ve])
		i = jsonscan.SkipWS(obj, ve)
		if i >= len(obj) || obj[i] != ',' {
			return
		}
		i++
	}
}

// jsonString decodes a raw JSON string value. Without escapes and with
// valid UTF-8 it returns a slice of raw; otherwise it decodes with
// encoding/json (which turns invalid UTF-8 into U+FFFD).
func jsonString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return in, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}
