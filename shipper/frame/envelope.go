package frame

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// envelope is what a Filebeat or Vector JSON event tells.
type envelope struct {
	message []byte
	host    string
	file    string
	time    time.Time
}

var errNoMessage = errors.New(`no string "message" field`)

// parseEnvelope decodes a JSON event. Keys may be nested ({"host":{"name":
// ...}}) or dotted ("host.name"); Vector's "host" and "file" are strings.
func parseEnvelope(b []byte) (envelope, error) {
	var env envelope
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return env, fmt.Errorf("%w: %w", ErrEnvelope, err)
	}
	raw, ok := top["message"]
	var msg string
	if !ok || json.Unmarshal(raw, &msg) != nil {
		return env, fmt.Errorf("%w: %w", ErrEnvelope, errNoMessage)
	}
	env.message = []byte(msg)
	env.host = firstString(top, "host.name", "host", "name")
	env.file = firstString(top, "log.file.path", "log", "file", "path")
	if env.file == "" {
		env.file = stringAt(top["file"])
	}
	ts := stringAt(top["@timestamp"])
	if ts == "" {
		ts = stringAt(top["timestamp"])
	}
	if ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			env.time = t
		}
	}
	return env, nil
}

// firstString finds a string by its dotted key, or under the object key obj
// by the nested path (e.g. "host.name", or "host" then "name"). A string
// found directly at obj (Vector's "host") also counts.
func firstString(top map[string]json.RawMessage, dotted, obj string, path ...string) string {
	if s := stringAt(top[dotted]); s != "" {
		return s
	}
	raw, ok := top[obj]
	if !ok {
		return ""
	}
	if s := stringAt(raw); s != "" {
		return s
	}
	return nested(raw, path)
}

// nested walks path through objects, accepting at each level either the
// nested key or the rest of the path as one dotted key.
func nested(raw json.RawMessage, path []string) string {
	if len(path) == 0 {
		return stringAt(raw)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	if len(path) > 1 {
		dotted := path[0]
		for _, p := range path[1:] {
			dotted += "." + p
		}
		if s := stringAt(m[dotted]); s != "" {
			return s
		}
	}
	return nested(m[path[0]], path[1:])
}

func stringAt(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
