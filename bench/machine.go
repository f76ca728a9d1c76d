package main

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// machine describes where the benchmark ran.
type machine struct {
	Cores      int               `json:"cores"`
	CPU        string            `json:"cpu,omitempty"`
	GOOS       string            `json:"goos"`
	GOARCH     string            `json:"goarch"`
	GoVersion  string            `json:"go_version"`
	PostgreSQL string            `json:"postgresql"`
	Modules    map[string]string `json:"modules"` // versions of the systems measured
	// LoadStart and LoadEnd are /proc/loadavg's 1-minute load when the
	// benchmark started and ended: other work on the machine shows there.
	LoadStart string `json:"load_start,omitempty"`
	LoadEnd   string `json:"load_end,omitempty"`
	// LoadSamples is the 1-minute load as each measurement started.
	LoadSamples []float64 `json:"load_samples,omitempty"`
}

// describeMachine reads the machine, the Go toolchain, the server's version
// and the versions of the modules under test.
func describeMachine(ctx context.Context, srv *server) (machine, error) {
	v, err := srv.version(ctx)
	if err != nil {
		return machine{}, err
	}
	return machine{
		Cores:      runtime.NumCPU(),
		CPU:        cpuModel(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		GoVersion:  runtime.Version(),
		PostgreSQL: v,
		Modules:    moduleVersions(),
		LoadStart:  loadAverage(),
	}, nil
}

// loadAverage is the 1-minute load average, or "" where /proc has none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "" elsewhere.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// moduleVersions are the versions of qg, River and pgx built in.
func moduleVersions() map[string]string {
	out := map[string]string{}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	for _, m := range info.Deps {
		switch m.Path {
		case "github.com/qg-go/qg", "github.com/riverqueue/river", "github.com/jackc/pgx/v4", "github.com/jackc/pgx/v5":
			v := m.Version
			if m.Replace != nil {
				v = "local " + m.Replace.Path
			}
			out[m.Path] = v
		}
	}
	return out
}
