package yamlconf

import (
	"fmt"
	"log/slog"
)

// Secret is a configuration value that must never be shown: a password or
// an API key. It prints, logs and marshals as "REDACTED" (or "" when
// empty), whatever the verb, so a Config holding one can be logged or end
// in a panic message without leaking it. Reveal returns the value.
type Secret string

const redacted = "REDACTED"

// Reveal returns the secret itself, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString covers %#v.
func (s Secret) GoString() string { return fmt.Sprintf("yamlconf.Secret(%q)", s.String()) }

// Format covers every other verb (%q, %x, %s...).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue covers log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText covers encoding/json and the like.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
