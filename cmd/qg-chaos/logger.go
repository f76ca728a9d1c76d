package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// throttleEvery is how often a throttled message of one kind gets through.
const throttleEvery = time.Second

// logger writes terse, prefixed lines, and keeps repeated error messages
// (a burst of failed statements after a terminated session, say) from
// drowning the output.
type logger struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
	last   map[string]time.Time // when each throttled kind last got through
	muted  map[string]int       // messages of each kind held back since
}

// newLogger returns a logger writing to out, each line starting with prefix.
func newLogger(out io.Writer, prefix string) *logger {
	return &logger{out: out, prefix: prefix, last: map[string]time.Time{}, muted: map[string]int{}}
}

// Printf writes one line.
func (l *logger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, l.prefix+format+"\n", args...)
}

// Throttle writes one line unless a line of the same kind was written less
// than a second ago; the next line of that kind says how many were held back.
func (l *logger) Throttle(kind, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.last[kind]) < throttleEvery {
		l.muted[kind]++
		return
	}
	l.last[kind] = time.Now()
	suffix := ""
	if n := l.muted[kind]; n > 0 {
		suffix = fmt.Sprintf(" (and %d more like it)", n)
		l.muted[kind] = 0
	}
	fmt.Fprintf(l.out, l.prefix+format+suffix+"\n", args...)
}

// slog returns a *slog.Logger of records at level and above, written as
// throttled lines of this logger: qg's own log, in a worker process.
func (l *logger) slog(level slog.Level) *slog.Logger {
	dropTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}
	return slog.New(slog.NewTextHandler(lineWriter{l}, opts))
}

// lineWriter writes each line it is given as a throttled line of a logger.
type lineWriter struct{ l *logger }

// Write writes p, one or more lines.
func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.l.Throttle("slog", "%s", line)
	}
	return len(p), nil
}
