// Package yamlconf decodes eximship's YAML configuration file into Go
// structs from the parsed yaml.Node tree, so that every problem can name
// its dotted key and its line, and every problem of a file is reported at
// once, not only the first.
//
// Environment references (${VAR}, ${VAR:-default}, ${VAR:?message}; see
// package envexpand) are expanded in each scalar value after parsing, as
// Vector and Filebeat do: an expanded value is never read as YAML, so a
// password starting with '!', '&', '*' or '~', or holding " #", arrives
// intact. A value is converted to its field's type only after expansion,
// by this package, never by YAML's implicit typing: a string field gets the
// text as written.
//
// Supported field types: string, Secret (never shown in a message), bool,
// the integer kinds, float64, time.Duration (Go syntax, "30s"), pointers to
// those (unset stays nil: "default" distinguishable from "false"), slices,
// maps with string keys, and nested structs. Fields are named by their
// `yaml:"name"` tag; untagged fields are not part of the file. A
// `check:"..."` tag adds per-value rules, comma-separated:
//
//	min=N          numbers: >= N; durations: >= N seconds
//	oneof=a|b|c    one of the words (case-insensitive)
//	file           a readable file
//	url            an http:// or https:// URL with a host
//	hostport       host:port
//
// A struct whose pointer implements Checker gets its Check method called
// after the whole file is decoded, when its section is present, for rules
// that involve several keys.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eximship/eximship/cmd/eximship/internal/envexpand"
	"github.com/eximship/eximship/shipper/redact"
)

// Lookup finds an environment variable (os.LookupEnv in production).
type Lookup func(string) (string, bool)

// Checker is implemented by section structs (on their pointer) that check
// rules involving several keys.
type Checker interface {
	Check(c *Check)
}

// Doc records where each key of a decoded file is.
type Doc struct {
	lines map[string]int
}

// Line returns the line of a dotted key ("kafka.sasl.username"; list items
// as "kafka.brokers[0]"), or 0 when it is absent.
func (d *Doc) Line(key string) int {
	if d == nil {
		return 0
	}
	return d.lines[key]
}

// Has reports whether a dotted key is in the file.
func (d *Doc) Has(key string) bool { return d.Line(key) > 0 }

// lineOf returns the line of key or of its closest present parent.
func (d *Doc) lineOf(key string) int {
	for k := key; k != ""; k = parent(k) {
		if l := d.Line(k); l > 0 {
			return l
		}
	}
	return 0
}

func parent(key string) string {
	if i := strings.LastIndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return ""
}

func join(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	case strings.HasPrefix(key, "["):
		return prefix + key
	}
	return prefix + "." + key
}

type decoder struct {
	lookup   Lookup
	doc      *Doc
	probs    Problems
	checkers []pendingCheck
}

type pendingCheck struct {
	prefix string
	c      Checker
}

// Decode parses raw (one YAML document) into out, a pointer to a struct,
// expanding environment references with lookup. It returns where each key
// is and every problem found, errors and warnings, in line order.
func Decode(raw []byte, lookup Lookup, out any) (*Doc, Problems) {
	d := &decoder{lookup: lookup, doc: &Doc{lines: map[string]int{}}}
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic("yamlconf.Decode: out must be a pointer to a struct")
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			d.runChecks(v)
			return d.doc, d.probs
		}
		d.probs = append(d.probs, syntaxProblem(err, raw))
		return d.doc, d.probs
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.probs = append(d.probs, syntaxProblem(err, raw))
	case !isEmpty(&next):
		d.add(next.Line, "", "a second YAML document (after ---) is not read: eximship reads one document; merge the two or remove the ---", false)
	}
	if len(root.Content) > 0 && !isEmpty(root.Content[0]) {
		d.walk(root.Content[0], v.Elem(), "")
	}
	d.runChecks(v)
	d.probs.sort()
	return d.doc, d.probs
}

func (d *decoder) runChecks(root reflect.Value) {
	// the root struct last: its rules may span sections
	if c, ok := root.Interface().(Checker); ok {
		d.checkers = append(d.checkers, pendingCheck{"", c})
	}
	for _, pc := range d.checkers {
		pc.c.Check(&Check{prefix: pc.prefix, d: d})
	}
}

// isNull reports a YAML null (key:, key: ~, key: null), which leaves the
// field at its default.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Anchor == ""
}

func isEmpty(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode {
		return len(n.Content) == 0 || isEmpty(n.Content[0])
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" || n.Kind == 0
}

func (d *decoder) add(line int, key, msg string, warning bool) {
	d.probs = append(d.probs, Problem{Line: line, Key: key, Msg: msg, Warning: warning})
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section of keys"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

// walk decodes node into v, a settable value, at dotted path.
func (d *decoder) walk(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return // key: (empty), key: ~ or key: null: the default
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.walk(n, v.Elem(), path)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.add(n.Line, path, fmt.Sprintf("expected a section of keys (key: value), got %s", kindName(n)), false)
			return
		}
		d.walkStruct(n, v, path)
		if c, ok := v.Addr().Interface().(Checker); ok && path != "" {
			d.checkers = append(d.checkers, pendingCheck{path, c})
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.add(n.Line, path, fmt.Sprintf("expected a list, got %s: write [a, b] or one \"- item\" per line", kindName(n)), false)
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.doc.lines[p] = item.Line
			d.walk(item, s.Index(i), p)
		}
		v.Set(s)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		if n.Kind != yaml.MappingNode {
			d.add(n.Line, path, fmt.Sprintf("expected a section of keys (key: value), got %s", kindName(n)), false)
			return
		}
		m := reflect.MakeMap(t)
		for _, kv := range pairs(n) {
			p := join(path, kv.key.Value)
			d.doc.lines[p] = kv.key.Line
			e := reflect.New(t.Elem()).Elem()
			d.walk(kv.value, e, p)
			m.SetMapIndex(reflect.ValueOf(kv.key.Value).Convert(t.Key()), e)
		}
		v.Set(m)
	default:
		d.scalar(n, v, path)
	}
}

type pair struct{ key, value *yaml.Node }

// pairs lists the key/value pairs of a mapping, with YAML merge keys
// (<<: *anchor) resolved: the mapping's own keys win.
func pairs(n *yaml.Node) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" || k.Value == "<<" && k.Style == 0 {
			for _, m := range mergeSources(val) {
				merged = append(merged, pairs(m)...)
			}
			continue
		}
		own = append(own, pair{k, val})
	}
	if len(merged) == 0 {
		return own
	}
	seen := map[string]bool{}
	for _, p := range own {
		seen[p.key.Value] = true
	}
	out := own
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			out = append(out, p)
		}
	}
	return out
}

func mergeSources(n *yaml.Node) []*yaml.Node {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{n}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range n.Content {
			out = append(out, mergeSources(c)...)
		}
		return out
	}
	return nil
}

func (d *decoder) walkStruct(n *yaml.Node, v reflect.Value, path string) {
	fields := structFields(v.Type())
	first := map[string]int{}
	for _, kv := range pairs(n) {
		k := kv.key
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, path, "a key must be a plain word", false)
			continue
		}
		p := join(path, k.Value)
		if l, dup := first[k.Value]; dup {
			d.add(k.Line, p, fmt.Sprintf("given twice (first on line %d): keep one", l), false)
			continue
		}
		first[k.Value] = k.Line
		f, ok := fields[k.Value]
		if !ok && strings.HasPrefix(k.Value, "x-") {
			continue // an extension key, for anchors (as in docker compose)
		}
		if !ok {
			d.add(k.Line, p, unknownKey(k.Value, path, fields), false)
			continue
		}
		d.doc.lines[p] = k.Line
		before := len(d.probs)
		d.walk(kv.value, v.FieldByIndex(f.index), p)
		if len(d.probs) == before && f.check != "" && !isNull(kv.value) {
			d.checkTag(kv.value, v.FieldByIndex(f.index), p, f.check)
		}
	}
}

type field struct {
	index []int
	check string
}

func structFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		out[name] = field{index: sf.Index, check: sf.Tag.Get("check")}
	}
	return out
}

// Keys lists the dotted keys a struct type accepts (list items as "[]"),
// for documentation checks.
func Keys(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType {
			return
		}
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !sf.IsExported() {
				continue
			}
			k := join(prefix, name)
			out = append(out, k)
			ft := sf.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
				if ft.Kind() == reflect.Slice {
					k += "[]"
				}
				ft = ft.Elem()
			}
			walk(ft, k)
		}
	}
	walk(t, "")
	return out
}

func unknownKey(key, path string, fields map[string]field) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sortStrings(names)
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	msg := "unknown key"
	if s := closest(key, names); s != "" {
		msg += fmt.Sprintf(": did you mean %s?", s)
	}
	return fmt.Sprintf("%s (keys %s: %s; see docs/CONFIG.md)", msg, where, strings.Join(names, ", "))
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	secret := v.Type() == secretType
	if n.Kind != yaml.ScalarNode {
		d.add(n.Line, path, fmt.Sprintf("expected a single value, got %s", kindName(n)), false)
		return
	}
	switch {
	case n.Anchor != "" && n.Value == "":
		d.add(n.Line, path, "a value starting with & is read by YAML as an anchor: put the value in quotes ('...')", false)
		return
	case strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!"):
		d.add(n.Line, path, "a value starting with ! is read by YAML as a tag: put the value in quotes ('...')", false)
		return
	}
	val, err := envexpand.Expand(n.Value, d.lookup)
	if err != nil {
		d.add(n.Line, path, err.Error(), false)
		return
	}
	show := func() string {
		if secret {
			return "the value"
		}
		return strconv.Quote(val)
	}
	bad := func(format string, args ...any) {
		d.add(n.Line, path, fmt.Sprintf(format, args...), false)
	}
	t := v.Type()
	switch {
	case t == durationType:
		dur, err := time.ParseDuration(val)
		if err != nil {
			if _, nerr := strconv.ParseFloat(val, 64); nerr == nil {
				bad("%s is a number without a unit: write a duration such as %ss, %sms or %sm (units: ms, s, m, h)", val, val, val, val)
			} else {
				bad("%s is not a duration: write one such as 30s, 500ms, 5m or 1h30m", show())
			}
			return
		}
		v.SetInt(int64(dur))
	case t.Kind() == reflect.String:
		v.SetString(val)
	case t.Kind() == reflect.Bool:
		switch strings.ToLower(val) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			bad("%s is not true or false", show())
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(val, "_", ""), 0, t.Bits())
		if err != nil {
			bad("%s is not a whole number", show())
			return
		}
		v.SetInt(i)
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(val, "_", ""), 0, t.Bits())
		if err != nil {
			bad("%s is not a whole number >= 0", show())
			return
		}
		v.SetUint(u)
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		f, err := strconv.ParseFloat(val, t.Bits())
		if err != nil {
			bad("%s is not a number", show())
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("yamlconf: field %s has an unsupported type %s", path, t))
	}
}

var minRule = regexp.MustCompile(`^min=(-?[0-9]+)$`)

// checkTag applies a field's check rules to its decoded value.
func (d *decoder) checkTag(n *yaml.Node, v reflect.Value, path, rules string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice {
		for i := range v.Len() {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.checkValue(d.doc.Line(p), v.Index(i), p, rules)
		}
		return
	}
	d.checkValue(n.Line, v, path, rules)
}

func (d *decoder) checkValue(line int, v reflect.Value, path, rules string) {
	for _, rule := range strings.Split(rules, ",") {
		if msg := checkRule(v, rule); msg != "" {
			d.add(line, path, msg, false)
		}
	}
}

// checkRule returns what is wrong with v under rule, or "".
func checkRule(v reflect.Value, rule string) string {
	name, arg, _ := strings.Cut(rule, "=")
	s := ""
	if v.Kind() == reflect.String {
		s = v.String()
	}
	switch {
	case minRule.MatchString(rule):
		limit, _ := strconv.ParseInt(arg, 10, 64)
		switch {
		case v.Type() == durationType:
			if time.Duration(v.Int()) < time.Duration(limit)*time.Second {
				return fmt.Sprintf("must be at least %s, got %s", time.Duration(limit)*time.Second, time.Duration(v.Int()))
			}
		case v.CanInt():
			if v.Int() < limit {
				return fmt.Sprintf("must be at least %d, got %d", limit, v.Int())
			}
		case v.CanFloat():
			if v.Float() < float64(limit) {
				return fmt.Sprintf("must be at least %d, got %g", limit, v.Float())
			}
		}
	case name == "oneof":
		if s == "" {
			return ""
		}
		words := strings.Split(arg, "|")
		for _, w := range words {
			if strings.EqualFold(w, s) {
				return ""
			}
		}
		return fmt.Sprintf("%q is not one of %s", s, strings.Join(words, ", "))
	case name == "file":
		if s == "" {
			return ""
		}
		f, err := os.Open(s)
		if err != nil {
			return fmt.Sprintf("cannot read %s: %s", s, describeFileError(err))
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return fmt.Sprintf("%s is a directory, not a file", s)
		}
	case name == "url":
		if s == "" {
			return ""
		}
		return checkURL(s)
	case name == "hostport":
		if s == "" {
			return "empty address: write host:port"
		}
		if strings.Contains(s, "://") {
			return fmt.Sprintf("%q: write host:port without a scheme (e.g. %s)", redact.URL(s), hostOf(s))
		}
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			return fmt.Sprintf("%q is not host:port (e.g. kafka1:9092)", s)
		}
	default:
		panic("yamlconf: unknown check rule " + rule)
	}
	return ""
}

func hostOf(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return "kafka1:9092"
}

func describeFileError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied (the user running eximship must be able to read it)"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// checkURL explains what is wrong with an http(s) URL, or returns "". The
// URL is shown with its password removed.
func checkURL(s string) string {
	shown := redact.URL(s)
	u, err := url.Parse(s)
	if err != nil {
		reason := err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			reason = ue.Err.Error()
		}
		// url's reasons quote parts of the input, which may hold the password
		switch {
		case strings.HasPrefix(reason, "invalid port"):
			reason = "the port after the host is not a number"
		case strings.Contains(reason, "\"") && shown != s:
			reason = "malformed"
		}
		return fmt.Sprintf("%q is not a valid URL: %s", shown, reason)
	}
	switch {
	case !strings.Contains(s, "://"):
		return fmt.Sprintf("%q is not a URL: write http://%s or https://%s", shown, shown, shown)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q: the scheme must be http or https, not %q", shown, u.Scheme)
	case u.Host == "":
		return fmt.Sprintf("%q has no host: write e.g. https://es1:9200", shown)
	}
	return ""
}
