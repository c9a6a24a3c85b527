// Command eximship parses Exim logs consumed from Kafka and bulk-indexes them
// into Elasticsearch. Each subcommand lives in its own file and registers
// itself with register() from an init function.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/eximship/eximship/shipper/redact"
)

// command is one subcommand of eximship.
type command struct {
	name    string
	summary string
	// synopsis is the usage line after "eximship NAME", e.g. "[flags] [FILE...]".
	synopsis string
	// help says what the command does, its input and output and its exit
	// statuses (shown by -h before the flags).
	help string
	// examples are shown by -h after the flags; every command has some
	// (TestEveryCommandHelp).
	examples string
	// run executes the subcommand. args excludes the subcommand name.
	run func(ctx context.Context, env *env, args []string) error
}

// env is what every subcommand gets from main: its streams and the logger.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	// lookup reads the environment (os.LookupEnv; tests replace it).
	lookup func(string) (string, bool)
	// ctx, when set, is the parent of the command's context (tests cancel
	// it instead of sending SIGTERM).
	ctx context.Context
	// collect, when set, receives a command's FlagSet at parseFlags, which
	// then ends the command (for completion and help listings).
	collect func(*flag.FlagSet)
}

// errCollected ends a command run only to collect its flags.
var errCollected = errors.New("flags collected")

// commandFlags returns the flags of a command, defined as its run defines
// them, without running it.
func commandFlags(c command) *flag.FlagSet {
	var got *flag.FlagSet
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler),
		collect: func(fs *flag.FlagSet) { got = fs }}
	_ = c.run(context.Background(), e, nil)
	if got == nil {
		got = flag.NewFlagSet(c.name, flag.ContinueOnError)
	}
	return got
}

func (e *env) getenv(k string) (string, bool) {
	if e.lookup != nil {
		return e.lookup(k)
	}
	return os.LookupEnv(k)
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("eximship: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// Exit statuses shared by the commands.
const (
	exitOK = 0
	// exitFailure: the command failed at run time.
	exitFailure = 1
	// exitUsage: bad flags or arguments.
	exitUsage = 2
	// exitConfig: the configuration file is missing or invalid.
	exitConfig = 3
	// exitUnreachable: a service (Kafka, Elasticsearch, Kibana) cannot be
	// reached: connection refused, DNS, TLS, timeout.
	exitUnreachable = 4
	// exitRefused: a service answered but refused: authentication,
	// privileges, a missing topic.
	exitRefused = 5
)

// exitError carries a specific exit status out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// errHelp ends a command after its -h text, with status 0.
var errHelp = &exitError{code: exitOK}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: eximship <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'eximship <command> -h' (or 'eximship help <command>') for the flags and examples of a command.")
	fmt.Fprintln(w, "The configuration file is described in docs/CONFIG.md; EXIMSHIP_LOG_LEVEL=debug|info|warn|error sets the log level.")
}

// flags returns the FlagSet of command name. Parse it with parseFlags.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr) // parse errors; -h goes to stdout
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args: -h/--help prints the command's help, flags and
// examples to stdout and returns errHelp (status 0); a bad flag returns a
// usage error (status 2) pointing at -h.
func (e *env) parseFlags(fs *flag.FlagSet, args []string) error {
	if e.collect != nil {
		e.collect(fs)
		return errCollected
	}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		printHelp(e.stdout, commands[fs.Name()], fs)
		return errHelp
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("%v (see 'eximship %s -h')", err, fs.Name())}
}

func printHelp(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: eximship %s %s\n\n%s\n", c.name, c.synopsis, strings.TrimSpace(c.help))
	if fs != nil {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags (-flag and --flag are the same):")
			out := fs.Output()
			fs.SetOutput(w)
			fs.PrintDefaults()
			fs.SetOutput(out)
		}
	}
	if c.examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(c.examples, "\n"))
	}
}

func main() {
	con := newConsole(os.Stderr)
	os.Exit(realMain(os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: con,
		log:    newLogger(con, os.Getenv("EXIMSHIP_LOG_LEVEL"), "text"),
	}))
}

// newLogger builds the slog logger of every command: level from
// EXIMSHIP_LOG_LEVEL (or a flag), text or json. An invalid level is
// reported once and info is used.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	bad := level != "" && l.UnmarshalText([]byte(level)) != nil
	if bad {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	log := slog.New(h)
	if bad {
		log.Warn("unknown log level, using info (want debug, info, warn or error)", "level", level)
	}
	return log
}

func realMain(args []string, e *env) (code int) {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return realMain([]string{c.name, "-h"}, e)
			}
			fmt.Fprintf(e.stderr, "eximship: unknown command %q\n\n", args[1])
			usage(e.stderr)
			return exitUsage
		}
		usage(e.stdout)
		return exitOK
	case "-v", "-version", "--version":
		args = []string{"version"}
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "eximship: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return exitUsage
	}
	defer func() {
		// A panic is a bug of eximship, never the user's input: say so in
		// one line (with credentials in URLs removed); the stack only with
		// EXIMSHIP_LOG_LEVEL=debug.
		if r := recover(); r != nil {
			fmt.Fprintf(e.stderr, "eximship %s: internal error: %s\nPlease report it with the command line and the version (eximship version); EXIMSHIP_LOG_LEVEL=debug shows where it happened.\n",
				c.name, redact.URL(fmt.Sprint(r)))
			if lv, _ := e.getenv("EXIMSHIP_LOG_LEVEL"); strings.EqualFold(lv, "debug") {
				e.stderr.Write(debug.Stack())
			}
			code = exitFailure
		}
	}()
	parent := context.Background()
	if e.ctx != nil {
		parent = e.ctx
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, e, args[1:])
	if err == nil {
		return exitOK
	}
	code = exitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if code != exitOK && !(ee != nil && ee.err == nil) {
		fmt.Fprintf(e.stderr, "eximship %s: %s\n", c.name, redact.URL(err.Error()))
	}
	return code
}
