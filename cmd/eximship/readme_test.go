package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTroubleshootingMessages: every message the README's Troubleshooting
// table quotes is one eximship really writes: each piece of it (split at
// "...", quotes and the example values) is found in the Go sources or in
// the recorded problems of testdata/config.
func TestTroubleshootingMessages(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Troubleshooting\n")
	if !ok {
		t.Fatal("README.md has no Troubleshooting section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var corpus strings.Builder
	filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "dist") {
			return fs.SkipDir
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") || strings.HasSuffix(p, "problems.txt") {
			b, _ := os.ReadFile(p)
			corpus.Write(b)
		}
		return nil
	})
	code := corpus.String()
	rows := regexp.MustCompile("(?m)^\\| `([^|]+)` .*\\|").FindAllStringSubmatch(section, -1)
	if len(rows) < 15 {
		t.Fatalf("only %d messages in the Troubleshooting table", len(rows))
	}
	// example values of the README's messages, not part of the texts
	// (and names: tokens with - or /), and the joints where eximship puts
	// its values between the fixed parts
	values := regexp.MustCompile(`line [0-9]+: |[a-z_]+(\.[a-z_\[\]0-9]+)+: |"[^"]*"|\([^)]*\)|\$\{[^}]*\}|[0-9.:]+[0-9]|\.\.\.|, |; |: | or |\S*[-/]\S*|eximship [a-z]+: |lacks |create_doc|manage_index_templates`)
	for _, r := range rows {
		for _, msg := range strings.Split(r[1], "`") {
			for _, piece := range values.Split(msg, -1) {
				piece = strings.Trim(piece, " :,.()`")
				if len(piece) < 10 {
					continue
				}
				if !strings.Contains(code, piece) {
					t.Errorf("README Troubleshooting quotes %q, found in no source: update the README or the message", piece)
				}
			}
		}
	}
}
