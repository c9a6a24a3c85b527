package mapping_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/exim"
)

// ecsFile is the compact copy of ECS 8.17's field definitions the
// conformance tests read (see its header for the source).
const ecsFile = "../shipper/exim/testdata/ecs/ecs_flat-8.17.0.yml"

// ecsFlat, when set, regenerates ecsFile from a full ecs_flat.yml:
//
//	go test ./mapping -run TestECSCopy -ecs-flat /path/to/ecs/generated/ecs/ecs_flat.yml
var ecsFlat = flag.String("ecs-flat", "", "regenerate the compact ECS copy from this ecs_flat.yml (elastic/ecs v8.17.0)")

// ecsField is what the tests need of an ECS field definition.
type ecsField struct {
	Type          string   `yaml:"type"`
	Normalize     []string `yaml:"normalize,omitempty"`
	AllowedValues []struct {
		Name               string   `yaml:"name"`
		ExpectedEventTypes []string `yaml:"expected_event_types,omitempty"`
	} `yaml:"allowed_values,omitempty"`
	MultiFields []struct {
		Name string `yaml:"name"`
		Type string `yaml:"type"`
	} `yaml:"multi_fields,omitempty"`
}

func loadECS(t testing.TB) map[string]ecsField {
	t.Helper()
	b, err := os.ReadFile(ecsFile)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]ecsField
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", ecsFile, err)
	}
	if len(m) < 50 || m["event.category"].Type == "" {
		t.Fatalf("%s: %d fields, no event.category", ecsFile, len(m))
	}
	return m
}

// TestECSCopy keeps the compact copy complete: every ECS field that the
// template maps is in it (and, with -ecs-flat, rewrites it from the full
// file: the fields the template maps plus the event categorization).
func TestECSCopy(t *testing.T) {
	fields, err := mapping.Fields()
	if err != nil {
		t.Fatal(err)
	}
	if *ecsFlat != "" {
		regenerateECS(t, *ecsFlat, fields)
	}
	ecs := loadECS(t)
	for _, f := range []string{"event.kind", "event.category", "event.type", "event.outcome", "ecs.version", "host.name"} {
		if _, ok := ecs[f]; !ok {
			t.Errorf("%s is not in %s", f, ecsFile)
		}
	}
	for f := range fields {
		if strings.HasPrefix(f, "exim.") {
			continue
		}
		if _, ok := ecs[f]; !ok && !isMultiField(ecs, f) {
			t.Errorf("mapped field %s is neither in the ECS copy nor an ECS multi-field (regenerate with -ecs-flat, or it is not ECS)", f)
		}
	}
}

func isMultiField(ecs map[string]ecsField, f string) bool {
	i := strings.LastIndexByte(f, '.')
	if i < 0 {
		return false
	}
	for _, m := range ecs[f[:i]].MultiFields {
		if m.Name == f[i+1:] {
			return true
		}
	}
	return false
}

func regenerateECS(t *testing.T, path string, fields map[string]string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var full map[string]ecsField
	if err := yaml.Unmarshal(b, &full); err != nil {
		t.Fatal(err)
	}
	keep := map[string]ecsField{}
	for f := range fields {
		if def, ok := full[f]; ok {
			keep[f] = def
		}
	}
	for _, f := range []string{"event.kind", "event.category", "event.type", "event.outcome", "ecs.version"} {
		keep[f] = full[f]
	}
	out, err := yaml.Marshal(keep)
	if err != nil {
		t.Fatal(err)
	}
	head := `# The part of ECS's generated/ecs/ecs_flat.yml that eximship's tests need:
# type, normalize (array), multi_fields and allowed values (with the expected
# event types of each event.category) of every ECS field the Exim template
# maps, and of event.kind/category/type/outcome and ecs.version.
# Source: the elastic/ecs repository, tag v8.17.0
# (commit e3103a213a4e84cbcd3ef36da7001483ddc60230), generated/ecs/ecs_flat.yml.
# ECS is licensed under the Apache License 2.0.
# Regenerate: go test ./mapping -run TestECSCopy -ecs-flat <that file>
`
	if err := os.WriteFile(ecsFile, append([]byte(head), out...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNativeTypesAreECS: the native types Install uses where the cluster
// has them are ECS's own types, and every field the template maps that ECS
// types as match_only_text, wildcard or constant_keyword has one.
func TestNativeTypesAreECS(t *testing.T) {
	ecs := loadECS(t)
	fields, err := mapping.Fields()
	if err != nil {
		t.Fatal(err)
	}
	native := map[string]string{}
	for _, n := range mapping.NativeTypes {
		native[n.Field] = n.Type
		if strings.HasPrefix(n.Field, "exim.") {
			if n.Type != "match_only_text" {
				t.Errorf("%s: eximship's own fields use match_only_text only, not %s", n.Field, n.Type)
			}
			continue
		}
		if got := ecsType(ecs, n.Field); got != n.Type {
			t.Errorf("%s: native type %s, ECS says %s", n.Field, n.Type, got)
		}
	}
	for f := range fields {
		switch et := ecsType(ecs, f); et {
		case "match_only_text", "wildcard", "constant_keyword":
			if native[f] != et {
				t.Errorf("%s is %s in ECS but has no native type", f, et)
			}
		}
	}
}

// ecsType is the type of an ECS field or multi-field.
func ecsType(ecs map[string]ecsField, f string) string {
	if d, ok := ecs[f]; ok {
		return d.Type
	}
	if i := strings.LastIndexByte(f, '.'); i > 0 {
		for _, m := range ecs[f[:i]].MultiFields {
			if m.Name == f[i+1:] {
				return m.Type
			}
		}
	}
	return ""
}

// TestECSConformance checks every document of the fixtures, the real-Exim
// captures and the public corpus (when present), encoded by the real
// processor, against ECS 8.17: every non-exim field is an ECS field with a
// value of its type, arrays only where ECS normalises to an array (and
// there always), the allowed values of event.kind, event.category,
// event.type and event.outcome, the expected category/type pairs, and
// ecs.version and host.name on every document, event.category email on
// every mail event (the SMTP session, the messages, their rejections).
func TestECSConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes the whole corpus; skipped with -short")
	}
	ecs := loadECS(t)
	allowed := func(f string) map[string][]string {
		m := map[string][]string{}
		for _, v := range ecs[f].AllowedValues {
			m[v.Name] = v.ExpectedEventTypes
		}
		return m
	}
	kinds, cats, types, outcomes := allowed("event.kind"), allowed("event.category"), allowed("event.type"), allowed("event.outcome")
	if len(cats["email"]) == 0 || len(types) == 0 {
		t.Fatalf("the ECS copy lacks allowed values")
	}
	docs, sources := fixtureDocsHost(t, "ecstest", "mx.fallback.example")
	t.Logf("%d documents: %v", len(docs), sources)
	problems := map[string]int{}
	fail := func(key, format string, args ...any) {
		problems[key]++
		if problems[key] <= 3 {
			t.Errorf(format, args...)
		}
	}
	byAction := map[string]int{}
	for _, d := range docs {
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(d.Body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
		where := fmt.Sprintf("%s (%s)", d.ID, trunc(d.Original))
		flat := map[string]any{}
		flattenDoc("", doc, flat)
		for f, v := range flat {
			if strings.HasPrefix(f, "exim.") {
				continue
			}
			def, ok := ecs[f]
			if !ok {
				fail("not ECS "+f, "%s: field %s is not an ECS field (put it under exim.*)", where, f)
				continue
			}
			arr, isArr := v.([]any)
			wantArr := contains(def.Normalize, "array")
			if isArr != wantArr {
				fail("array "+f, "%s: %s is an array: %v, ECS normalises it to an array: %v", where, f, isArr, wantArr)
			}
			vals := []any{v}
			if isArr {
				vals = arr
			}
			for _, x := range vals {
				if !ecsValueFits(def.Type, x) {
					fail("type "+f, "%s: %s = %v does not fit ECS type %s", where, f, x, def.Type)
				}
			}
		}
		kind, _ := flat["event.kind"].(string)
		if _, ok := kinds[kind]; !ok {
			fail("kind", "%s: event.kind %q not allowed", where, kind)
		}
		if o, ok := flat["event.outcome"]; ok {
			if _, ok := outcomes[fmt.Sprint(o)]; !ok {
				fail("outcome", "%s: event.outcome %v not allowed", where, o)
			}
		}
		dc, _ := flat["event.category"].([]any)
		dt, _ := flat["event.type"].([]any)
		for _, c := range dc {
			if _, ok := cats[fmt.Sprint(c)]; !ok {
				fail("category "+fmt.Sprint(c), "%s: event.category %v not allowed", where, c)
			}
		}
		for _, ty := range dt {
			if _, ok := types[fmt.Sprint(ty)]; !ok {
				fail("type "+fmt.Sprint(ty), "%s: event.type %v not allowed", where, ty)
			}
		}
		// every type is expected by one of the categories, every category
		// has one of its expected types
		for _, ty := range dt {
			ok := len(dc) == 0
			for _, c := range dc {
				ok = ok || contains(cats[fmt.Sprint(c)], fmt.Sprint(ty))
			}
			if !ok {
				fail(fmt.Sprint("pair ", dc, ty), "%s: event.type %v expected by none of the categories %v", where, ty, dc)
			}
		}
		for _, c := range dc {
			ok := false
			for _, ty := range dt {
				ok = ok || contains(cats[fmt.Sprint(c)], fmt.Sprint(ty))
			}
			if !ok {
				fail(fmt.Sprint("pair ", c, dt), "%s: category %v has none of its expected types in %v", where, c, dt)
			}
		}
		if flat["ecs.version"] != exim.ECSVersion {
			fail("ecs.version", "%s: ecs.version %v", where, flat["ecs.version"])
		}
		h, _ := flat["host.name"].(string)
		if h == "" || h != strings.ToLower(h) {
			fail("host.name", "%s: host.name %q: want one, lower case", where, h)
		}
		action, _ := flat["event.action"].(string)
		byAction[action]++
		if mailAction(action) && !containsAny(dc, "email") {
			fail("email "+action, "%s: mail event %s without event.category email: %v", where, action, dc)
		}
	}
	if len(problems) > 0 {
		keys := make([]string, 0, len(problems))
		for k := range problems {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Logf("problems by kind: %v", keys)
	}
	if byAction["rcpt-rejected"] == 0 || byAction["message-arrival"] == 0 || byAction["delivery"] == 0 {
		t.Errorf("the documents lack the main actions: %v", byAction)
	}
}

// mailAction: every action of the SMTP session and of the messages is a
// mail event; the daemon's (process) and unmatched lines are not.
func mailAction(a string) bool {
	switch a {
	case exim.ActionDaemonStart, exim.ActionDaemonSighup, exim.ActionQueueRunStart, exim.ActionQueueRunEnd,
		exim.ActionCwd, exim.ActionPrivilegeDropped, exim.ActionPanic, exim.ActionUnknown:
		return false
	}
	return true
}

func ecsValueFits(typ string, v any) bool {
	switch typ {
	case "keyword", "wildcard", "match_only_text", "text", "constant_keyword", "ip", "date":
		return fits(typ, v) // the template's own check: strings, IPs, RFC 3339
	case "long", "integer", "short", "byte":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "float", "double", "scaled_float":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Float64()
		return err == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "geo_point":
		m, ok := v.(map[string]any)
		return ok && m["lat"] != nil && m["lon"] != nil
	}
	return false
}

// flattenDoc flattens objects to dotted paths; arrays and geo points
// ({lat, lon}) stay values.
func flattenDoc(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok || prefix != "" && m["lat"] != nil && m["lon"] != nil && len(m) == 2 {
		out[prefix] = v
		return
	}
	for k, x := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		flattenDoc(k, x, out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsAny(list []any, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
