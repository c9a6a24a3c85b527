// Command eximship parses Exim logs consumed from Kafka and bulk-indexes them
// into Elasticsearch. Each subcommand lives in its own file and registers
// itself with register() from an init function.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of eximship.
type command struct {
	name    string
	summary string
	// run executes the subcommand. args excludes the subcommand name.
	run func(ctx context.Context, env *env, args []string) error
}

// env is what every subcommand gets from main: its streams and the logger.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("eximship: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// exitError carries a specific exit status out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: eximship <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'eximship <command> -h' for the flags of a command.")
}

func main() {
	os.Exit(realMain(os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		log:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})),
	}))
}

func logLevel() slog.Level {
	var l slog.Level
	if v := os.Getenv("EXIMSHIP_LOG_LEVEL"); v != "" {
		if err := l.UnmarshalText([]byte(v)); err == nil {
			return l
		}
	}
	return slog.LevelInfo
}

func realMain(args []string, e *env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "eximship: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, e, args[1:])
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != 0 {
			fmt.Fprintf(e.stderr, "eximship %s: %v\n", c.name, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(e.stderr, "eximship %s: %v\n", c.name, err)
	return 1
}
