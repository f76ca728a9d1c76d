package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--version", "-version", "version"} {
		r := qgEnv(t, nil, arg)
		r.want(t, exitOK)
		if !strings.HasPrefix(r.stdout, "qg ") || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("qg %s printed %q, want qg <version> (..., go1.x)", arg, r.stdout)
		}
	}
}

func TestVersionText(t *testing.T) {
	t.Parallel()
	info := &debug.BuildInfo{GoVersion: "go1.23.4", Main: debug.Module{Path: "github.com/qg-go/qg", Version: "v0.3.1"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}
	for _, c := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{info, true, "qg v0.3.1 (commit 0123456789ab, 2026-12-01T10:00:00Z, modified, go1.23.4)\n"},
		{&debug.BuildInfo{GoVersion: "go1.22.0", Main: debug.Module{Version: "(devel)"}}, true, "qg (devel) (go1.22.0)\n"},
		{nil, false, "qg (no build information in this binary)\n"},
	} {
		if got := versionText(c.info, c.ok); got != c.want {
			t.Errorf("versionText = %q, want %q", got, c.want)
		}
	}
}
