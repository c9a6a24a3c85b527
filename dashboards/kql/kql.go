// Package kql translates the subset of Kibana's query language (KQL) that
// eximship's dashboards and detection rules use into Elasticsearch query
// DSL, the way Kibana does (@kbn/es-query), so tests can run a panel's or a
// rule's query on a real node without Kibana.
//
// The subset:
//
//	field:value  field:"a phrase"  field:(a or b)  field:(a and b)
//	field:*  field:pre*fix  field >= n  (and the other range operators)
//	a and b   a or b   not a   (grouping)
//
// Translation, as in Kibana: a bare value is a match query, a quoted value a
// match_phrase, a value with * a query_string on that one field (Lucene
// specials escaped), field:* an exists query, and / or / not a bool query
// with filter / should (minimum_should_match 1) / must_not. Keywords are
// case-insensitive. Free text without a field and nested fields
// (field:{...}) are outside the subset and are refused with an error.
package kql

import (
	"errors"
	"fmt"
	"strings"
)

// Node is a parsed query.
type Node interface {
	// DSL returns the Elasticsearch query of the node.
	DSL() map[string]any
}

type andNode struct{ kids []Node }
type orNode struct{ kids []Node }
type notNode struct{ kid Node }

// field:value
type matchNode struct {
	field  string
	value  string
	quoted bool
}

type existsNode struct{ field string }

type rangeNode struct {
	field, op, value string
}

// matchAll is the empty query.
type matchAll struct{}

func (matchAll) DSL() map[string]any { return map[string]any{"match_all": map[string]any{}} }

func (n andNode) DSL() map[string]any {
	return map[string]any{"bool": map[string]any{"filter": dsls(n.kids)}}
}

func (n orNode) DSL() map[string]any {
	return map[string]any{"bool": map[string]any{"should": dsls(n.kids), "minimum_should_match": 1}}
}

func (n notNode) DSL() map[string]any {
	return map[string]any{"bool": map[string]any{"must_not": n.kid.DSL()}}
}

func (n existsNode) DSL() map[string]any {
	return map[string]any{"exists": map[string]any{"field": n.field}}
}

func (n rangeNode) DSL() map[string]any {
	ops := map[string]string{">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
	return map[string]any{"range": map[string]any{n.field: map[string]any{ops[n.op]: n.value}}}
}

func (n matchNode) DSL() map[string]any {
	if n.quoted {
		return map[string]any{"match_phrase": map[string]any{n.field: n.value}}
	}
	if strings.Contains(n.value, "*") {
		return map[string]any{"query_string": map[string]any{"fields": []any{n.field}, "query": wildcardQuery(n.value)}}
	}
	return map[string]any{"match": map[string]any{n.field: n.value}}
}

func dsls(ns []Node) []any {
	out := make([]any, len(ns))
	for i, n := range ns {
		out[i] = n.DSL()
	}
	return out
}

// wildcardQuery escapes Lucene's special characters except *.
func wildcardQuery(v string) string {
	var b strings.Builder
	for _, r := range v {
		if strings.ContainsRune(`+-=&|><!(){}[]^"~?:\/ `, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ToDSL parses q and returns its Elasticsearch query; the empty query is
// match_all.
func ToDSL(q string) (map[string]any, error) {
	n, err := Parse(q)
	if err != nil {
		return nil, err
	}
	return n.DSL(), nil
}

// Parse parses q.
func Parse(q string) (Node, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return matchAll{}, nil
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("kql: unexpected %s at offset %d", p.toks[p.pos], p.toks[p.pos].at)
	}
	return n, nil
}

type tokKind int

const (
	tWord   tokKind = iota // unquoted value or field name
	tQuoted                // "..."
	tLParen
	tRParen
	tColon
	tRange // > >= < <=
)

type token struct {
	kind tokKind
	text string
	at   int
}

func (t token) String() string {
	if t.kind == tQuoted {
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func lex(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == ':':
			toks = append(toks, token{tColon, ":", i})
			i++
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(q) && q[i+1] == '=' {
				op += "="
			}
			toks = append(toks, token{tRange, op, i})
			i += len(op)
		case c == '{' || c == '}':
			return nil, fmt.Errorf("kql: nested field queries ({...}) are not supported (offset %d)", i)
		case c == '"':
			start := i
			var b strings.Builder
			i++
			for {
				if i >= len(q) {
					return nil, fmt.Errorf("kql: unterminated quoted value at offset %d", start)
				}
				if q[i] == '\\' && i+1 < len(q) {
					b.WriteByte(q[i+1])
					i += 2
					continue
				}
				if q[i] == '"' {
					i++
					break
				}
				b.WriteByte(q[i])
				i++
			}
			toks = append(toks, token{tQuoted, b.String(), start})
		default:
			start := i
			var b strings.Builder
			for i < len(q) && !strings.ContainsRune(" \t\r\n():<>\"{}", rune(q[i])) {
				if q[i] == '\\' && i+1 < len(q) {
					b.WriteByte(q[i+1])
					i += 2
					continue
				}
				b.WriteByte(q[i])
				i++
			}
			toks = append(toks, token{tWord, b.String(), start})
		}
	}
	return toks, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) keyword(k string) bool {
	t, ok := p.peek()
	if ok && t.kind == tWord && strings.EqualFold(t.text, k) {
		p.pos++
		return true
	}
	return false
}

var errEnd = errors.New("kql: unexpected end of query")

// or := and ("or" and)*
func (p *parser) or() (Node, error) {
	return p.binary("or", p.and, func(k []Node) Node { return orNode{k} })
}

// and := not ("and" not)*
func (p *parser) and() (Node, error) {
	return p.binary("and", p.not, func(k []Node) Node { return andNode{k} })
}

func (p *parser) binary(kw string, next func() (Node, error), mk func([]Node) Node) (Node, error) {
	n, err := next()
	if err != nil {
		return nil, err
	}
	kids := []Node{n}
	for p.keyword(kw) {
		n, err := next()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return mk(kids), nil
}

// not := "not" not | primary
func (p *parser) not() (Node, error) {
	if p.keyword("not") {
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	return p.primary()
}

// primary := "(" or ")" | field ":" values | field rangeop value
func (p *parser) primary() (Node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, errEnd
	}
	switch t.kind {
	case tLParen:
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return n, nil
	case tWord:
		p.pos++
		field := t.text
		op, ok := p.peek()
		if !ok {
			return nil, fmt.Errorf("kql: free text %q without a field is not supported", field)
		}
		switch op.kind {
		case tColon:
			p.pos++
			return p.values(field)
		case tRange:
			p.pos++
			v, ok := p.peek()
			if !ok || (v.kind != tWord && v.kind != tQuoted) {
				return nil, fmt.Errorf("kql: a value must follow %s%s", field, op.text)
			}
			p.pos++
			return rangeNode{field, op.text, v.text}, nil
		}
		return nil, fmt.Errorf("kql: free text %q without a field is not supported (offset %d)", field, t.at)
	}
	return nil, fmt.Errorf("kql: unexpected %s at offset %d", t, t.at)
}

func (p *parser) expect(k tokKind) error {
	t, ok := p.peek()
	if !ok {
		return errEnd
	}
	if t.kind != k {
		return fmt.Errorf("kql: unexpected %s at offset %d", t, t.at)
	}
	p.pos++
	return nil
}

// values parses what follows field: — one value, or a parenthesised
// and/or/not expression of values.
func (p *parser) values(field string) (Node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, errEnd
	}
	if t.kind == tLParen {
		p.pos++
		n, err := p.valueOr(field)
		if err != nil {
			return nil, err
		}
		if err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return n, nil
	}
	return p.value(field)
}

func (p *parser) valueOr(field string) (Node, error) {
	return p.binary("or", func() (Node, error) { return p.valueAnd(field) }, func(k []Node) Node { return orNode{k} })
}

func (p *parser) valueAnd(field string) (Node, error) {
	return p.binary("and", func() (Node, error) { return p.valueNot(field) }, func(k []Node) Node { return andNode{k} })
}

func (p *parser) valueNot(field string) (Node, error) {
	if p.keyword("not") {
		n, err := p.valueNot(field)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	return p.values(field)
}

func (p *parser) value(field string) (Node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, errEnd
	}
	switch t.kind {
	case tQuoted:
		p.pos++
		return matchNode{field: field, value: t.text, quoted: true}, nil
	case tWord:
		p.pos++
		if t.text == "*" {
			return existsNode{field}, nil
		}
		return matchNode{field: field, value: t.text}, nil
	}
	return nil, fmt.Errorf("kql: a value must follow %s: (offset %d)", field, t.at)
}

// Fields returns the field names q refers to, in order of appearance,
// each once.
func Fields(q string) ([]string, error) {
	n, err := Parse(q)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	var walk func(Node)
	walk = func(n Node) {
		var f string
		switch n := n.(type) {
		case andNode:
			for _, k := range n.kids {
				walk(k)
			}
		case orNode:
			for _, k := range n.kids {
				walk(k)
			}
		case notNode:
			walk(n.kid)
		case matchNode:
			f = n.field
		case existsNode:
			f = n.field
		case rangeNode:
			f = n.field
		}
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	walk(n)
	return out, nil
}
