package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestRead(t *testing.T) {
	vcs := func(mainVersion string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/eximship/eximship", Version: mainVersion}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	for _, c := range []struct {
		name                  string
		ldVersion, ldCommit   string
		ldDate                string
		read                  func() (*debug.BuildInfo, bool)
		version, commit, date string
		modified              bool
	}{
		{name: "release ldflags win", ldVersion: "1.2.0", ldCommit: "abc", ldDate: "2026-12-01T00:00:00Z",
			read: vcs("(devel)", "vcs.revision", "def", "vcs.time", "2025-01-01T00:00:00Z"), version: "1.2.0", commit: "abc", date: "2026-12-01T00:00:00Z"},
		{name: "go build in a checkout", read: vcs("(devel)", "vcs.revision", "0123456789abcdef", "vcs.time", "2026-11-30T10:00:00Z", "vcs.modified", "true"),
			version: "dev", commit: "0123456789abcdef", date: "2026-11-30T10:00:00Z", modified: true},
		{name: "go install module@tag", read: vcs("v1.3.0"), version: "v1.3.0", commit: Unknown, date: Unknown},
		{name: "go install pseudo-version", read: vcs("v0.0.0-20261201230000-abcdef123456"),
			version: "v0.0.0-20261201230000-abcdef123456", commit: "abcdef123456", date: "2026-12-01T23:00:00Z"},
		{name: "nothing known", read: func() (*debug.BuildInfo, bool) { return nil, false }, version: "dev", commit: Unknown, date: Unknown},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := fromBuildInfo(c.ldVersion, c.ldCommit, c.ldDate, c.read)
			if i.Version != c.version || i.Commit != c.commit || i.Date != c.date || i.Modified != c.modified {
				t.Errorf("got %+v, want version %s commit %s date %s modified %v", i, c.version, c.commit, c.date, c.modified)
			}
		})
	}
}
