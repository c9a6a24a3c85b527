package yamlconf

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// yaml.v3 (go.yaml.in/yaml/v3 v3.0.6) reports a parser error at the
// 0-based line of the construct it was parsing (its scanner errors are
// 1-based): parserProblems are its parser's messages, whose line is one too
// low. The hints say what to do; its messages stay as the reason.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

var syntaxHints = []struct{ problem, hint string }{
	{"did not find expected key", "the indentation does not line up with the keys above, or a ':' is missing"},
	{"did not find expected '-' indicator", "a list item is not indented like the items above"},
	{"did not find expected ',' or ']'", "a [ list is not closed with ], or a value in it needs quotes"},
	{"did not find expected ',' or '}'", "a { section is not closed with }, or a value in it needs quotes"},
	{"did not find expected node content", "a value is missing or starts with a character YAML reserves: put it in quotes"},
	{"found undefined tag handle", "a value starting with ! is read as a YAML tag: put it in quotes"},
	{"mapping values are not allowed in this context", "a value holds ': ': put it in quotes, or the indentation is wrong"},
	{"found a tab character", "indent with spaces, not tabs"},
	{"found character that cannot start any token", "a value starts with a character YAML reserves (@, `, % or a tab): put it in quotes"},
	{"did not find expected alphabetic or numeric character", "a value starting with & or * is read as a YAML anchor or alias: put it in quotes"},
	{"found unexpected end of stream", "a quoted value is not closed"},
	{"found unknown escape character", `a "double-quoted" value holds a backslash: use 'single quotes' or write \\`},
	{"could not find expected ':'", "a key is not followed by ':'"},
	{"block sequence entries are not allowed", "a '- item' is not where a list can start: check the indentation"},
	{"did not find expected comment or line break", "something follows a quoted value on its line: put the whole value in quotes"},
}

var (
	lineRe   = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)
	anchorRe = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// syntaxProblem turns a YAML parse error into a Problem with the right
// line and a hint. It never repeats file content: an unknown alias names
// text that may be a password.
func syntaxProblem(err error, raw []byte) Problem {
	msg := err.Error()
	if m := anchorRe.FindStringSubmatch(msg); m != nil {
		return Problem{
			Line: aliasLine(raw, m[1]),
			Msg:  "YAML syntax: a value starting with * is read as a YAML alias of an anchor that does not exist: put the value in quotes",
		}
	}
	line := 0
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if parserProblems[msg] {
		line++
	}
	p := Problem{Line: line, Msg: "YAML syntax: " + msg}
	for _, h := range syntaxHints {
		if strings.HasPrefix(msg, h.problem) {
			p.Msg += " (" + h.hint + ")"
			break
		}
	}
	return p
}

// aliasLine finds the line of "*name" used as a value, or 0.
func aliasLine(raw []byte, name string) int {
	for i, l := range bytes.Split(raw, []byte("\n")) {
		for _, sep := range []string{": *", "- *", "[*", ", *", "<<: *"} {
			if bytes.Contains(l, []byte(sep+name)) {
				return i + 1
			}
		}
	}
	return 0
}
