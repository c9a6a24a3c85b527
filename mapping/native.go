package mapping

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// NativeType is a field that ECS maps with a type of an optional
// Elasticsearch module; the template files hold the portable type every
// node has, and Install uses the ECS type where the cluster has the module.
type NativeType struct {
	// Field is the dotted path; a multi-field is written "email.subject.text".
	Field string
	// Type is ECS's type: match_only_text, wildcard or constant_keyword.
	Type string
	// Module is the module that provides it (reported by _nodes/plugins).
	Module string
}

// Modules of the ECS-native types.
const (
	ModuleMatchOnlyText   = "mapper-extras"
	ModuleWildcard        = "wildcard"
	ModuleConstantKeyword = "constant-keyword"
)

// NativeTypes are the fields of the Exim documents with an ECS-native type
// (ECS 8.17: message, error.message and the .text multi-fields are
// match_only_text, email.message_id is wildcard, data_stream.* are
// constant_keyword) and eximship's own free text (exim.reject.headers and
// the .text multi-fields of exim.reason and exim.smtp.confirmation), for
// which match_only_text is the space-saving type Elastic uses for log text.
// The portable types of the template files are text (match_only_text) and
// keyword (wildcard, constant_keyword).
var NativeTypes = []NativeType{
	{"message", "match_only_text", ModuleMatchOnlyText},
	{"error.message", "match_only_text", ModuleMatchOnlyText},
	{"email.subject.text", "match_only_text", ModuleMatchOnlyText},
	{"source.as.organization.name.text", "match_only_text", ModuleMatchOnlyText},
	{"destination.as.organization.name.text", "match_only_text", ModuleMatchOnlyText},
	{"exim.reject.headers", "match_only_text", ModuleMatchOnlyText},
	{"exim.reason.text", "match_only_text", ModuleMatchOnlyText},
	{"exim.smtp.confirmation.text", "match_only_text", ModuleMatchOnlyText},
	{"email.message_id", "wildcard", ModuleWildcard},
	{"data_stream.type", "constant_keyword", ModuleConstantKeyword},
	{"data_stream.dataset", "constant_keyword", ModuleConstantKeyword},
	{"data_stream.namespace", "constant_keyword", ModuleConstantKeyword},
}

// portableOf is the type the template files use in place of a native one.
var portableOf = map[string]string{
	"match_only_text":  "text",
	"wildcard":         "keyword",
	"constant_keyword": "keyword",
}

// allowedParams are the mapping parameters each native type accepts (the
// portable type's other parameters are dropped when the type changes).
var allowedParams = map[string][]string{
	"match_only_text":  {"fields", "meta"},
	"wildcard":         {"ignore_above", "null_value", "fields", "meta"},
	"constant_keyword": {"value", "meta"},
}

// NativeFor returns the native types the features allow: those whose
// module every node has.
func NativeFor(f Features) []NativeType {
	has := map[string]bool{}
	for _, m := range f.Modules {
		has[m] = true
	}
	var out []NativeType
	for _, n := range NativeTypes {
		if has[n.Module] {
			out = append(out, n)
		}
	}
	return out
}

// WithNativeTypes returns ts with the mappings component of the Exim
// documents rewritten to use the native types (NativeFor): what Install
// writes after detecting the cluster. Without any, ts is returned as it is.
// The component's version stays: a cluster's templates are upgraded by
// version, and the same version holds the same fields whatever their type.
func WithNativeTypes(ts []Template, native []NativeType) ([]Template, error) {
	if len(native) == 0 {
		return ts, nil
	}
	out := make([]Template, len(ts))
	copy(out, ts)
	for i, t := range out {
		if t.Kind != ComponentTemplate || !isMappingsComponent(t.Name) {
			continue
		}
		body, err := nativeBody(t.Body, native)
		if err != nil {
			return nil, fmt.Errorf("mapping: %s: %w", t.Name, err)
		}
		out[i].Body = body
	}
	return out, nil
}

// isMappingsComponent matches MappingsComponent and its scoped copies
// (Scoped appends the scope to the name).
func isMappingsComponent(name string) bool {
	return name == MappingsComponent || strings.HasPrefix(name, MappingsComponent+"-")
}

func nativeBody(body []byte, native []NativeType) ([]byte, error) {
	var t map[string]any
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, err
	}
	props := dig(t, "template", "mappings")
	for _, n := range native {
		field, err := fieldNode(props, n.Field)
		if err != nil {
			return nil, err
		}
		if want := portableOf[n.Type]; field["type"] != want {
			return nil, fmt.Errorf("field %s is %v in the template, not the portable %s of %s", n.Field, field["type"], want, n.Type)
		}
		keep := map[string]bool{}
		for _, p := range allowedParams[n.Type] {
			keep[p] = true
		}
		for k := range field {
			if !keep[k] {
				delete(field, k)
			}
		}
		field["type"] = n.Type
	}
	return json.Marshal(t)
}

// fieldNode finds the mapping object of a dotted path below a mappings
// object, through "properties" and, for the last step, "fields".
func fieldNode(mappings map[string]any, path string) (map[string]any, error) {
	node := mappings
	parts := strings.Split(path, ".")
	for i, p := range parts {
		var next map[string]any
		if props, ok := node["properties"].(map[string]any); ok {
			next, _ = props[p].(map[string]any)
		}
		if next == nil && i == len(parts)-1 {
			if fields, ok := node["fields"].(map[string]any); ok {
				next, _ = fields[p].(map[string]any)
			}
		}
		if next == nil {
			return nil, fmt.Errorf("field %s is not in the template", path)
		}
		node = next
	}
	return node, nil
}

// NativeNames lists native types as "field:type", sorted (for logs).
func NativeNames(native []NativeType) []string {
	out := make([]string, len(native))
	for i, n := range native {
		out[i] = n.Field + ":" + n.Type
	}
	sort.Strings(out)
	return out
}
