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
		}
	}
	for _, f := range Fields() {
		if !strings.Contains(doc, "`"+f.Name+"`") {
			t.Errorf("field %s is not documented in docs/PARSER.md", f.Name)
		}
	}
}
