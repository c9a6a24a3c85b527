// Command eximlab runs a private Exim on loopback and drives SMTP traffic
// against it.
//
//	eximlab capture -out DIR
//	    runs the fixture script under every log selector variant and writes
//	    DIR/<variant>/{mainlog,rejectlog,paniclog}
//	eximlab generate -dir DIR -relay N -normal M [-seed S]
//	    runs a realistic mix of N rejected relay attempts and M accepted
//	    mails, runs the queue and prints the path of the main log
//	eximlab replicate -in LOG -out FILE -lines N
//	    repeats LOG with shifted timestamps and remapped message ids until
//	    FILE has at least N lines (benchmark input)
//	eximlab serve [-dir DIR] [-log-selector S]
//	    starts the lab daemon, prints its lab directory and port, and runs
//	    until interrupted (for manual experiments)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eximship/eximship/shipper/exim/eximlab"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "capture":
		err = capture(ctx, os.Args[2:])
	case "generate":
		err = generate(ctx, os.Args[2:])
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "replicate":
		err = replicate(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		slog.Error("eximlab failed", "command", os.Args[1], "err", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: eximlab capture -out DIR | generate -dir DIR -relay N -normal M [-seed S] | replicate -in LOG -out FILE -lines N | serve")
	os.Exit(2)
}

func capture(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("capture", flag.ExitOnError)
	out := fs.String("out", "", "directory to write <variant>/{mainlog,rejectlog,paniclog} to (required)")
	_ = fs.Parse(args)
	if *out == "" {
		return fmt.Errorf("capture: -out is required")
	}
	start := time.Now()
	if err := eximlab.Capture(ctx, *out); err != nil {
		return err
	}
	slog.Info("captured", "out", *out, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func generate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ExitOnError)
	dir := fs.String("dir", "", "lab directory, kept afterwards (required)")
	relay := fs.Int("relay", 300, "rejected relay attempts (RCPTs)")
	normal := fs.Int("normal", 50, "accepted mails")
	seed := fs.Int64("seed", 1, "random seed")
	selector := fs.String("log-selector", "+all", "Exim log_selector")
	_ = fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("generate: -dir is required")
	}
	path, err := eximlab.Generate(ctx, eximlab.GenerateConfig{
		Dir: *dir, Relay: *relay, Normal: *normal, Seed: *seed, LogSelector: *selector,
	})
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("dir", "", "lab directory (default: a temporary one, removed on exit)")
	selector := fs.String("log-selector", "+all", "Exim log_selector")
	_ = fs.Parse(args)
	l, err := eximlab.Start(ctx, eximlab.Config{Dir: *dir, LogSelector: *selector, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Printf("dir=%s port=%d sink=%d\n", l.Dir, l.Port, l.Sink().Port())
	<-ctx.Done()
	return nil
}

func replicate(args []string) error {
	fs := flag.NewFlagSet("replicate", flag.ExitOnError)
	in := fs.String("in", "", "Exim log to repeat (required)")
	out := fs.String("out", "", "output file (required)")
	lines := fs.Int("lines", 1000000, "minimum number of lines to write")
	_ = fs.Parse(args)
	if *in == "" || *out == "" {
		return fmt.Errorf("replicate: -in and -out are required")
	}
	n, err := eximlab.ReplicateFile(*in, *out, *lines)
	if err != nil {
		return err
	}
	slog.Info("replicated", "out", *out, "lines", n)
	return nil
}
