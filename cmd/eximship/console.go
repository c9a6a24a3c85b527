package main

import (
	"bytes"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// console is stderr shared by log records and a live status line (run's
// progress, parse's counter): a record first clears the line, then is
// written, then the line is drawn again under it, so the two never
// interleave on a terminal.
type console struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	line string // the status line on screen, "" when none
}

func newConsole(f *os.File) *console {
	return &console{w: f, tty: term.IsTerminal(int(f.Fd()))}
}

const clearLine = "\r\033[K"

// Write writes log records (whole lines).
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.line == "" {
		return c.w.Write(p)
	}
	var b bytes.Buffer
	b.WriteString(clearLine)
	b.Write(p)
	b.WriteString(c.line)
	if _, err := c.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// setLine draws s as the status line ("" clears it).
func (c *console) setLine(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.line = s
	io.WriteString(c.w, clearLine+s)
}

// consoleOf returns the console behind w, or a new one around w (a test's
// buffer, never a terminal).
func consoleOf(w io.Writer) *console {
	switch c := w.(type) {
	case *console:
		return c
	case *os.File:
		return newConsole(c)
	}
	return &console{w: w}
}

func isTerminal(w io.Writer) bool { return consoleOf(w).tty }
