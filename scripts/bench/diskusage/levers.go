package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
)

// A lever is one storage change measured side by side with the same
// variant without it: STORAGE~LEVER[~LEVER...] (for example
// logsdb~siddv~sortaction). A lever changes the documents as they are
// sent (doc, applied to the decoded JSON of every document) and/or the
// variant's private templates (mappings, on the "properties" of the
// mappings component; settings, on the "index" settings of the storage
// component). Every variant with a lever sends re-encoded JSON (keys in
// alphabetical order, as synthetic _source returns them): compare it with
// STORAGE~same, the same round trip without a change.
//
// Levers are experiments: the ones that pay move into the encoder and the
// templates, and the benchmark's plain variants then measure them.
type lever struct {
	help     string
	doc      func(st *leverState, d map[string]any)
	mappings func(props map[string]any) error
	settings func(index map[string]any)
	// id, when set, gives the document's _id from its input position
	// instead of shipper.DocID.
	id func(p shipper.Position, entry int) string
}

// leverState is per variant (the documents of one variant in order).
type leverState struct{}

var levers = map[string]lever{
	"same": {help: "the round trip alone (the control)"},
	"idnotopic": {
		help: "_id: partition-offset-entry in decimal, without the topic (the form before issue 12 less the topic)",
		id: func(p shipper.Position, entry int) string {
			return strconv.Itoa(int(p.Partition)) + "-" + strconv.FormatInt(p.Offset, 10) + "-" + strconv.Itoa(entry)
		},
	},
	"idb64s": {
		help: "_id: base64url of offset (6 bytes), partition (2), entry (1), big-endian, no topic",
		id: func(p shipper.Position, entry int) string {
			var o [8]byte
			binary.BigEndian.PutUint64(o[:], uint64(p.Offset))
			var b [9]byte
			copy(b[0:6], o[2:])
			binary.BigEndian.PutUint16(b[6:], uint16(p.Partition))
			b[8] = byte(entry)
			return base64.RawURLEncoding.EncodeToString(b[:])
		},
	},
	"siddv": {
		help:     "exim.session.id: doc values, not indexed",
		mappings: setParams("exim.session.id", map[string]any{"index": false}),
	},
	"nocreated": {
		help: "no event.created",
		doc:  func(_ *leverState, d map[string]any) { del(d, "event", "created") },
	},
	"createdni": {
		help:     "event.created: doc values, not indexed",
		mappings: setParams("event.created", map[string]any{"index": false}),
	},
	"reasonalias": {
		help: "exim.reason not sent; mapped as an alias of event.reason (event.reason gains the .text multi-field)",
		doc:  func(_ *leverState, d map[string]any) { del(d, "exim", "reason") },
		mappings: func(props map[string]any) error {
			er, err := prop(props, "event.reason")
			if err != nil {
				return err
			}
			xr, err := prop(props, "exim.reason")
			if err != nil {
				return err
			}
			er["fields"] = xr["fields"]
			exim := props["exim"].(map[string]any)["properties"].(map[string]any)
			exim["reason"] = map[string]any{"type": "alias", "path": "event.reason"}
			return nil
		},
	},
	"noorig": {
		help: "no event.original at all (what parsing every remaining word would save)",
		doc:  func(_ *leverState, d map[string]any) { del(d, "event", "original") },
	},
	"norms": {
		help: "norms off on every text field and .text multi-field",
		mappings: func(props map[string]any) error {
			walkProps(props, func(m map[string]any) {
				if m["type"] == "text" {
					m["norms"] = false
				}
			})
			return nil
		},
	},
	"relatednodv": {
		help:     "related.ip and related.hosts without doc values",
		mappings: multi(setParams("related.ip", map[string]any{"doc_values": false}), setParams("related.hosts", map[string]any{"doc_values": false})),
	},
	"sortdefault": {
		help:     "index sort host.name, @timestamp desc (logsdb's own default, before eximship chose its sort)",
		settings: sortBy("host.name:asc", "@timestamp:desc"),
	},
	"sortaction": {
		help:     "index sort host.name, event.action, @timestamp desc",
		settings: sortBy("host.name:asc", "event.action:asc", "@timestamp:desc"),
	},
	"sortactionip": {
		help:     "index sort host.name, event.action, source.address, @timestamp desc",
		settings: sortBy("host.name:asc", "event.action:asc", "source.address:asc", "@timestamp:desc"),
	},
	"sortsession": {
		help:     "index sort host.name, exim.session.id (time first), @timestamp desc",
		settings: sortBy("host.name:asc", "exim.session.id:asc", "@timestamp:desc"),
	},
	"sortip": {
		help:     "index sort host.name, source.address, @timestamp desc",
		settings: sortBy("host.name:asc", "source.address:asc", "@timestamp:desc"),
	},
	"logsdbstored": {
		help: "index.mode logsdb with stored _source (what a basic licence gets when it asks for logsdb)",
		settings: func(index map[string]any) {
			index["mode"] = "logsdb"
			index["mapping"] = map[string]any{"source": map[string]any{"mode": "stored"}}
		},
	},
	"skeleton": {
		help: "constant members left out (ecs.version, event.module/kind/dataset, process.name, data_stream.*, log.file.path): what the JSON's fixed part costs (not searchable as is: a measure only)",
		doc: func(_ *leverState, d map[string]any) {
			del(d, "ecs")
			del(d, "data_stream")
			del(d, "log")
			for _, f := range []string{"module", "kind", "dataset"} {
				del(d, "event", f)
			}
			del(d, "process", "name")
		},
	},
}

func leverNames() string {
	var ns []string
	for n, l := range levers {
		ns = append(ns, "  ~"+n+": "+l.help)
	}
	sort.Strings(ns)
	return strings.Join(ns, "\n")
}

// parseLevers splits "logsdb~siddv~norms" into the storage and its levers.
func parseLevers(name string) (string, []string, error) {
	parts := strings.Split(name, "~")
	for _, l := range parts[1:] {
		if _, ok := levers[l]; !ok {
			return "", nil, fmt.Errorf("variant %s: unknown lever %q; levers:\n%s", name, l, leverNames())
		}
	}
	return parts[0], parts[1:], nil
}

// applyTemplateLevers rewrites the variant's private mappings and storage
// components.
func applyTemplateLevers(ctx context.Context, scope string, names []string) error {
	var maps, sets []lever
	for _, n := range names {
		l := levers[n]
		if l.mappings != nil {
			maps = append(maps, l)
		}
		if l.settings != nil {
			sets = append(sets, l)
		}
	}
	patch := func(component string, f func(tpl map[string]any) error) error {
		name := component + "-" + scope
		var got struct {
			ComponentTemplates []struct {
				ComponentTemplate map[string]any `json:"component_template"`
			} `json:"component_templates"`
		}
		if err := call(ctx, http.MethodGet, "/_component_template/"+name, "", &got); err != nil {
			return err
		}
		if len(got.ComponentTemplates) != 1 {
			return fmt.Errorf("component template %s: %d found", name, len(got.ComponentTemplates))
		}
		ct := got.ComponentTemplates[0].ComponentTemplate
		tpl, _ := ct["template"].(map[string]any)
		if err := f(tpl); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		b, _ := json.Marshal(ct)
		return call(ctx, http.MethodPut, "/_component_template/"+name, string(b), nil)
	}
	if len(maps) > 0 {
		err := patch("eximship-logs-exim-mappings", func(tpl map[string]any) error {
			props := tpl["mappings"].(map[string]any)["properties"].(map[string]any)
			for _, l := range maps {
				if err := l.mappings(props); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(sets) > 0 {
		return patch(mapping.StorageComponent, func(tpl map[string]any) error {
			s, _ := tpl["settings"].(map[string]any)
			if s == nil {
				s = map[string]any{}
				tpl["settings"] = s
			}
			idx, _ := s["index"].(map[string]any)
			if idx == nil {
				idx = map[string]any{}
				s["index"] = idx
			}
			for _, l := range sets {
				l.settings(idx)
			}
			return nil
		})
	}
	return nil
}

// docID is the _id of a document for a variant's levers.
func docID(names []string, d shipper.Doc) string {
	for _, n := range names {
		if f := levers[n].id; f != nil {
			return f(d.Pos, d.Entry)
		}
	}
	return d.ID
}

// applyDocLevers re-encodes one document with the variant's levers.
func applyDocLevers(st *leverState, names []string, body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	for _, n := range names {
		if f := levers[n].doc; f != nil {
			f(st, d)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func get(d map[string]any, path ...string) any {
	var v any = d
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func set(d map[string]any, val any, path ...string) {
	m := d
	for _, p := range path[:len(path)-1] {
		n, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = n
	}
	m[path[len(path)-1]] = val
}

func del(d map[string]any, path ...string) {
	m := d
	for _, p := range path[:len(path)-1] {
		n, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = n
	}
	delete(m, path[len(path)-1])
	if len(m) == 0 && len(path) > 1 {
		del(d, path[:len(path)-1]...)
	}
}

// prop finds the mapping of a dotted field in properties.
func prop(props map[string]any, field string) (map[string]any, error) {
	parts := strings.Split(field, ".")
	m := props
	for i, p := range parts {
		f, ok := m[p].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("field %s not mapped", field)
		}
		if i == len(parts)-1 {
			return f, nil
		}
		if m, ok = f["properties"].(map[string]any); !ok {
			return nil, fmt.Errorf("field %s not mapped", field)
		}
	}
	return nil, fmt.Errorf("field %s not mapped", field)
}

func setParams(field string, params map[string]any) func(map[string]any) error {
	return func(props map[string]any) error {
		f, err := prop(props, field)
		if err != nil {
			return err
		}
		for k, v := range params {
			f[k] = v
		}
		return nil
	}
}

func multi(fs ...func(map[string]any) error) func(map[string]any) error {
	return func(props map[string]any) error {
		for _, f := range fs {
			if err := f(props); err != nil {
				return err
			}
		}
		return nil
	}
}

// walkProps calls f on every field mapping, multi-fields included.
func walkProps(props map[string]any, f func(map[string]any)) {
	for _, v := range props {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if p, ok := m["properties"].(map[string]any); ok {
			walkProps(p, f)
			continue
		}
		f(m)
		if mf, ok := m["fields"].(map[string]any); ok {
			walkProps(mf, f)
		}
	}
}

func sortBy(fields ...string) func(map[string]any) {
	return func(index map[string]any) {
		var fs, os []string
		for _, f := range fields {
			n, o, _ := strings.Cut(f, ":")
			fs, os = append(fs, n), append(os, o)
		}
		index["sort"] = map[string]any{"field": fs, "order": os}
	}
}
