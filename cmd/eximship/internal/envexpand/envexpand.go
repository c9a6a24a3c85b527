// Package envexpand expands environment references in one configuration
// value the way Filebeat and Vector users expect: ${VAR}, ${VAR:-default}
// (default when unset or empty) and ${VAR:?message} (an error when unset or
// empty). A bare $VAR is left alone, so values such as passwords may
// contain '$'; "$${" writes a literal "${". It runs on each scalar value
// after YAML parsing (package yamlconf), so what a variable holds is never
// read as YAML.
package envexpand

import (
	"fmt"
	"strings"
)

// Expand replaces every ${...} reference in s using lookup (os.LookupEnv in
// production). It returns an error naming the first reference that cannot
// be expanded; the error never holds a variable's value.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if s[i+1] != '{' {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ (write $${ for a literal ${)")
		}
		expr := s[i+2 : i+2+end]
		v, err := expand(expr, lookup)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i += 2 + end + 1
	}
	return b.String(), nil
}

func expand(expr string, lookup func(string) (string, bool)) (string, error) {
	name, op, arg := expr, "", ""
	if j := strings.Index(expr, ":"); j >= 0 {
		name, op = expr[:j], expr[j:]
		switch {
		case strings.HasPrefix(op, ":-"):
			op, arg = ":-", op[2:]
		case strings.HasPrefix(op, ":?"):
			op, arg = ":?", op[2:]
		default:
			return "", fmt.Errorf("${%s}: unknown operator %q (use ${VAR}, ${VAR:-default} or ${VAR:?message})", expr, op)
		}
	}
	if !validName(name) {
		return "", fmt.Errorf("${%s}: invalid variable name %q (letters, digits and _, not starting with a digit)", expr, name)
	}
	v, ok := lookup(name)
	switch op {
	case ":-":
		if !ok || v == "" {
			return arg, nil
		}
	case ":?":
		if !ok || v == "" {
			if arg == "" {
				arg = "required but not set"
			}
			return "", fmt.Errorf("environment variable %s: %s", name, arg)
		}
	default:
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set (export it, or write ${%s:-default} for an optional value)", name, name)
		}
	}
	return v, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}
