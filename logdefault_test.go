package qg

import (
	"log/slog"
	"strings"
	"testing"
)

// TestProblemsReachTheDefaultLogger checks that with no Logger set, a
// problem that stops work (here a lock that fails: the Client is closed)
// reaches slog.Default() at Warn, and that a routine record does not.
func TestProblemsReachTheDefaultLogger(t *testing.T) {
	c, queue := setup(t)
	var logs logBuffer
	logs.t = t
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)

	enqueue(t, c, &Job{Queue: queue, Type: "Fine"})
	w := NewWorker(c, WorkMap{"Fine": func(*Job) error { return nil }})
	w.Queue = queue
	if !w.WorkOne() {
		t.Fatal("no job worked")
	}
	c.Close()
	if w.WorkOne() {
		t.Fatal("a closed Client worked a job")
	}
	text := logs.String()
	if !strings.Contains(text, `level=WARN msg="qg: lock job" queue=`+queue) || !strings.Contains(text, "client is closed") {
		t.Errorf("the failed lock did not reach slog.Default at Warn:\n%s", text)
	}
	if strings.Contains(text, "job worked") {
		t.Errorf("a routine record reached slog.Default:\n%s", text)
	}
}
