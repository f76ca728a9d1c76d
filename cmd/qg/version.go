package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionText is what `qg --version` prints: the module version qg was
// built from (a tag with `go install ...@v0.1.0`, "(devel)" from a clone),
// the VCS revision and time Go stamped into the binary when there is one,
// and the Go version.
func versionText(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "qg (no build information in this binary)\n"
	}
	version := info.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	var extra []string
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		extra = append(extra, "commit "+rev)
	}
	if t := settings["vcs.time"]; t != "" {
		extra = append(extra, t)
	}
	if settings["vcs.modified"] == "true" {
		extra = append(extra, "modified")
	}
	extra = append(extra, info.GoVersion)
	return fmt.Sprintf("qg %s (%s)\n", version, strings.Join(extra, ", "))
}

// runVersion prints the version of this binary.
func runVersion(e *env) int {
	fmt.Fprint(e.stdout, versionText(debug.ReadBuildInfo()))
	return exitOK
}
