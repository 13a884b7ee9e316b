package main

import (
	"cmp"
	"runtime/debug"
	"strings"

	"livy-token-audit/audit"
)

// readBuildInfo is debug.ReadBuildInfo; the tests fix it, so that golden
// files do not depend on how the test binary was built.
var readBuildInfo = debug.ReadBuildInfo

// toolName names this program in snapshots, pages and reports.
const toolName = "livy-token-audit"

// tool is the program's name and version, from the build info the Go
// toolchain embeds: the main module's version ("(devel)" when built from a
// checkout without one), plus the VCS revision when the build recorded it
// (go build in a Git checkout does, unless -buildvcs=false; go run and go
// test do not).
func tool() audit.Tool {
	bi, ok := readBuildInfo()
	if !ok {
		return audit.Tool{Name: toolName, Version: "(unknown)"}
	}
	return audit.Tool{Name: toolName, Version: versionOf(bi)}
}

func versionOf(bi *debug.BuildInfo) string {
	v := cmp.Or(bi.Main.Version, "(devel)")
	var rev string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	// Go 1.24 and later put the revision in the pseudo-version already.
	if rev == "" || strings.Contains(v, rev) {
		return v
	}
	if modified {
		rev += "-dirty"
	}
	return v + " " + rev
}
