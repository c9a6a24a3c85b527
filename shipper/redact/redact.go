// Package redact removes credentials from text that is about to be shown:
// log records, error messages, check output.
package redact

import "strings"

// Mask replaces a removed password.
const Mask = "REDACTED"

// URL removes the password of every URL in s: "http://user:pw@host" becomes
// "http://user:REDACTED@host". It works on any text (a whole error message
// holding URLs, too) and on URLs that do not parse.
func URL(s string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			break
		}
		b.WriteString(rest[:i+3])
		rest = rest[i+3:]
		// the authority ends at the path, query, fragment or any space/quote
		end := strings.IndexAny(rest, "/?# \t\r\n\"'<>")
		if end < 0 {
			end = len(rest)
		}
		auth := rest[:end]
		at := strings.LastIndexByte(auth, '@')
		if at < 0 {
			continue
		}
		if user, _, hasPw := strings.Cut(auth[:at], ":"); hasPw {
			b.WriteString(user)
			b.WriteString(":" + Mask)
			rest = rest[at:]
		}
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(rest)
	return b.String()
}
