package qg

import (
	"log"
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
	// slog.SetDefault also points the log package at the new handler, and
	// putting the old default back does not undo that: restore log's own
	// output and flags too, or later records of other tests would reach
	// this test's buffer after it ended.
	old, oldOut, oldFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer func() {
		slog.SetDefault(old)
		log.SetOutput(oldOut)
		log.SetFlags(oldFlags)
	}()

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
