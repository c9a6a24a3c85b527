package exim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocs keeps docs/PARSER.md in step with the code: every action and
// every field appears in it (as `name` in a table row).
func TestDocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "PARSER.md"))
	if err != nil {
		t.Skipf("docs/PARSER.md not found: %v", err)
	}
	doc := string(b)
	for _, a := range Actions() {
		if !strings.Contains(doc, "| `"+a+"` |") {
			t.Errorf("action %s is not in the action table of docs/PARSER.md", a)
			continue
		}
		row := doc[strings.Index(doc, "| `"+a+"` |"):]
		row = row[:strings.IndexByte(row, '\n')]
		if want := " | " + docColumn(actionInfos[a]) + " |"; !strings.HasSuffix(row, want) {
			t.Errorf("docs/PARSER.md row of %s does not end in %q:\n%s", a, want, row)
		}
	}
	for _, f := range Fields() {
		if !strings.Contains(doc, "`"+f.Name+"`") {
			t.Errorf("field %s is not documented in docs/PARSER.md", f.Name)
		}
	}
}

// docColumn is the "category / type / outcome" cell of an action's row.
func docColumn(i actionInfo) string {
	cat := strings.Join(i.category, ", ")
	if cat == "" {
		cat = "–"
	}
	out := i.outcome
	if out == "" {
		out = "–"
	}
	return cat + " / " + strings.Join(i.typ, ", ") + " / " + out
}
