package main

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type esRole struct {
	Cluster []string `json:"cluster" yaml:"cluster"`
	Indices []struct {
		Names      []string `json:"names" yaml:"names"`
		Privileges []string `json:"privileges" yaml:"privileges"`
	} `json:"indices" yaml:"indices"`
}

// TestSecurityRolesDoc: the least-privilege roles of docs/SECURITY.md
// (role API form) are those of scripts/stack.d/es-roles.yml, which the
// secured-stack tests prove enough.
func TestSecurityRolesDoc(t *testing.T) {
	raw, err := os.ReadFile("../../scripts/stack.d/es-roles.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]esRole
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../../docs/SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc := map[string]esRole{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, ok := strings.CutPrefix(sc.Text(), "PUT _security/role/")
		if !ok {
			continue
		}
		var body strings.Builder
		for sc.Scan() && sc.Text() != "```" {
			body.WriteString(sc.Text() + "\n")
		}
		var r esRole
		if err := json.Unmarshal([]byte(body.String()), &r); err != nil {
			t.Fatalf("docs/SECURITY.md role %s: %v\n%s", name, err, body.String())
		}
		doc[name] = r
	}
	names := func(m map[string]esRole) []string {
		var ns []string
		for n := range m {
			ns = append(ns, n)
		}
		sort.Strings(ns)
		return ns
	}
	if !reflect.DeepEqual(names(doc), names(file)) {
		t.Fatalf("roles in docs/SECURITY.md %v, in es-roles.yml %v", names(doc), names(file))
	}
	for n, r := range file {
		if !reflect.DeepEqual(r, doc[n]) {
			t.Errorf("role %s: es-roles.yml %+v, docs/SECURITY.md %+v", n, r, doc[n])
		}
	}
}
