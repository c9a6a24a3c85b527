package yamlconf

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong (or, with Warning, risky) in a configuration
// file: the dotted key it is about, the line of that key (0 when the key is
// absent and its section too), and what to do.
type Problem struct {
	Line    int
	Key     string
	Msg     string
	Warning bool
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems are all the problems of a file, in the order of their lines.
type Problems []Problem

// Errors returns the problems that are not warnings.
func (ps Problems) Errors() Problems { return ps.filter(false) }

// Warnings returns the warnings.
func (ps Problems) Warnings() Problems { return ps.filter(true) }

func (ps Problems) filter(warning bool) Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning == warning {
			out = append(out, p)
		}
	}
	return out
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		// problems without a line (absent keys) come last
		li, lj := ps[i].Line, ps[j].Line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
}

// Err returns nil when there are no errors (warnings do not count), else an
// *Error listing every error.
func (ps Problems) Err() error {
	if errs := ps.Errors(); len(errs) > 0 {
		return &Error{Problems: errs}
	}
	return nil
}

// Error is a configuration file's list of errors.
type Error struct {
	// File is the path of the configuration file, when known.
	File     string
	Problems Problems
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "config %s: ", e.File)
	}
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// AsError returns the configuration Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// splitErr unwraps an error built with errors.Join (possibly wrapped with
// fmt.Errorf("...: %w")) into its parts, so that each becomes a line.
func splitErr(err error) []error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			var out []error
			for _, p := range j.Unwrap() {
				out = append(out, splitErr(p)...)
			}
			return out
		}
	}
	return []error{err}
}
