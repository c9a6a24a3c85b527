package eximlab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Variant is one log configuration of the fixtures.
type Variant struct {
	Name        string // directory name under testdata/real
	LogSelector string
	LogTimezone bool
	TimeZone    string
}

// Variants are the log configurations the fixtures are captured with.
func Variants() []Variant {
	return []Variant{
		{Name: "default"},
		{Name: "all", LogSelector: "+all"},
		{Name: "pid-millisec", LogSelector: "+pid +millisec"},
		{Name: "timezone", LogTimezone: true, TimeZone: "Asia/Kolkata"},
	}
}

// LogNames are the logs a capture keeps.
var LogNames = []string{"mainlog", "rejectlog", "paniclog"}

// RunVariant starts a lab for v, runs the script and stops the lab. It
// returns the lab directory, which the caller removes (Keep is set).
func RunVariant(ctx context.Context, v Variant, sessions []Session) (string, error) {
	dir, err := os.MkdirTemp("", "eximlab-"+v.Name+"-")
	if err != nil {
		return "", fmt.Errorf("variant %s: %w", v.Name, err)
	}
	l, err := Start(ctx, Config{Dir: dir, LogSelector: v.LogSelector, LogTimezone: v.LogTimezone, TimeZone: v.TimeZone})
	if err != nil {
		return dir, err
	}
	err = RunScript(ctx, l, sessions)
	cerr := l.Close()
	if err != nil {
		return l.Dir, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	if cerr != nil {
		return l.Dir, fmt.Errorf("variant %s: stop: %w", v.Name, cerr)
	}
	return l.Dir, nil
}

// Capture runs the script once per variant (the variants concurrently, each
// with its own daemon) and copies the logs to
// out/<variant>/{mainlog,rejectlog,paniclog} (a log Exim did not write is
// left out).
func Capture(ctx context.Context, out string) error {
	vs := Variants()
	dirs := make([]string, len(vs))
	errs := make([]error, len(vs))
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = RunVariant(ctx, v, Script())
		}()
	}
	wg.Wait()
	for _, d := range dirs {
		if d != "" {
			defer os.RemoveAll(d)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, v := range vs {
		dir := dirs[i]
		dst := filepath.Join(out, v.Name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		for _, name := range LogNames {
			b, err := os.ReadFile(filepath.Join(dir, "log", name))
			if errors.Is(err, fs.ErrNotExist) {
				_ = os.Remove(filepath.Join(dst, name))
				continue
			}
			if err != nil {
				return fmt.Errorf("capture: %w", err)
			}
			if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
				return fmt.Errorf("capture: %w", err)
			}
		}
	}
	return nil
}
