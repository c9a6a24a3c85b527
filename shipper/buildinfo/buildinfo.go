// Package buildinfo says which eximship is running: version, commit and
// build date, from the release build's -ldflags when given, else from the
// module and VCS information the Go toolchain embeds (go install
// module@version, go build in a git checkout).
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Info describes a build. Fields unknown to the build are "unknown"
// (Version: "dev").
type Info struct {
	Version  string // "1.2.0", "v1.2.0" (go install) or "dev"
	Commit   string // full VCS revision
	Date     string // build date (release) or commit date (VCS), RFC 3339
	Modified bool   // built from a checkout with uncommitted changes
	Go       string // toolchain, "go1.26.0"
	Platform string // "linux/amd64"
}

// Unknown is the value of a field the build did not record.
const Unknown = "unknown"

// Read combines the values given with -ldflags (empty when not given) and
// the build information embedded by the toolchain.
func Read(version, commit, date string) Info {
	return fromBuildInfo(version, commit, date, debug.ReadBuildInfo)
}

func fromBuildInfo(version, commit, date string, read func() (*debug.BuildInfo, bool)) Info {
	i := Info{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := read(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			i.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value
				}
			case "vcs.time":
				if i.Date == "" {
					i.Date = s.Value
				}
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
		// go install of a pseudo-version: v0.0.0-20261201230000-abcdef123456
		if i.Commit == "" {
			if p := strings.Split(i.Version, "-"); len(p) >= 3 && len(p[len(p)-1]) == 12 {
				i.Commit = strings.TrimSuffix(p[len(p)-1], "+incompatible")
				if t, err := time.Parse("20060102150405", p[len(p)-2]); err == nil && i.Date == "" {
					i.Date = t.UTC().Format(time.RFC3339)
				}
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit == "" {
		i.Commit = Unknown
	}
	if i.Date == "" {
		i.Date = Unknown
	}
	return i
}

// ShortCommit is the commit's first 12 characters.
func (i Info) ShortCommit() string {
	if len(i.Commit) > 12 {
		return i.Commit[:12]
	}
	return i.Commit
}
