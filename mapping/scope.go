package mapping

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Scoped returns private copies of ts for the data streams of one
// namespace: component and index templates get the suffix "-<namespace>",
// the index templates match only logs-exim.*-<namespace> and
// eximship-deadletter-<namespace> and have a priority 100 above eximship's,
// so they win over the shared templates for that namespace alone. ILM
// policies are kept as they are (shared). Tests and benchmarks use it to
// try templates on a shared cluster without changing what other
// namespaces get (Options.Scope).
func Scoped(ts []Template, namespace string) ([]Template, error) {
	if namespace == "" || strings.ContainsAny(namespace, "*?,\"/\\<>| #:-") || strings.ToLower(namespace) != namespace {
		return nil, fmt.Errorf("mapping: scope %q: want a data stream namespace", namespace)
	}
	rename := map[string]string{}
	for _, t := range ts {
		if t.Kind == ComponentTemplate {
			rename[t.Name] = t.Name + "-" + namespace
		}
	}
	out := make([]Template, 0, len(ts))
	for _, t := range ts {
		switch t.Kind {
		case ComponentTemplate:
			t.Name = rename[t.Name]
		case IndexTemplate:
			var it map[string]any
			if err := json.Unmarshal(t.Body, &it); err != nil {
				return nil, fmt.Errorf("mapping: %s: %w", t.Name, err)
			}
			pats, _ := it["index_patterns"].([]any)
			for i, p := range pats {
				s, _ := p.(string)
				if !strings.HasSuffix(s, "-*") {
					return nil, fmt.Errorf("mapping: %s: pattern %q does not end in -*", t.Name, s)
				}
				pats[i] = strings.TrimSuffix(s, "*") + namespace
			}
			comps, _ := it["composed_of"].([]any)
			for i, c := range comps {
				s, _ := c.(string)
				if r, ok := rename[s]; ok {
					comps[i] = r
				}
			}
			prio, _ := it["priority"].(float64)
			it["priority"] = prio + 100
			b, err := json.Marshal(it)
			if err != nil {
				return nil, err
			}
			t.Name += "-" + namespace
			t.Body = b
		}
		out = append(out, t)
	}
	return out, nil
}
