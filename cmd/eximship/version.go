package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/eximship/eximship/shipper/buildinfo"
)

// Set at release build time (GoReleaser's defaults):
//
//	-ldflags "-X main.version=1.2.0 -X main.commit=<sha> -X main.date=<RFC 3339>"
//
// Without them, buildinfo falls back to what the toolchain embedded.
var version, commit, date string

func build() buildinfo.Info { return buildinfo.Read(version, commit, date) }

func init() {
	register(command{
		name:     "version",
		summary:  "print the version, commit and build date of eximship",
		synopsis: "[-json]",
		help: `Prints the version of eximship, the commit it was built from, the build
date (the commit date for a plain 'go build'), the Go toolchain and the
platform. A release build gets them from -ldflags; 'go install' and 'go
build' in a git checkout from the Go toolchain's build information.`,
		examples: `  eximship version
  eximship version -json | jq -r .commit`,
		run: func(_ context.Context, e *env, args []string) error {
			fs := e.flags("version")
			asJSON := fs.Bool("json", false, "print a JSON object")
			if err := e.parseFlags(fs, args); err != nil {
				return err
			}
			i := build()
			if *asJSON {
				return json.NewEncoder(e.stdout).Encode(map[string]any{
					"version": i.Version, "commit": i.Commit, "date": i.Date, "modified": i.Modified, "go": i.Go, "platform": i.Platform,
				})
			}
			mod := ""
			if i.Modified {
				mod = " (modified)"
			}
			_, err := fmt.Fprintf(e.stdout, "eximship %s\n  commit  %s%s\n  built   %s\n  go      %s %s\n", i.Version, i.Commit, mod, i.Date, i.Go, i.Platform)
			return err
		},
	})
}
