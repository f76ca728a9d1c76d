package qg

import (
	"bytes"
	"strings"
	"testing"
)

func TestHooksAndLogger(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "Ok", Priority: 1})
	enqueue(t, c, &Job{Queue: q, Type: "Panics", Priority: 2})
	enqueue(t, c, &Job{Queue: q, Type: "Nobody", Priority: 3})
	logger, logs := testLogger(t)
	events := map[string][]JobEvent{}
	record := func(name string) func(JobEvent) {
		return func(e JobEvent) { events[name] = append(events[name], e) }
	}
	w := newTestWorker(c, q, WorkMap{
		"Ok":     func(*Job) error { return nil },
		"Panics": func(*Job) error { panic("oh no") },
	})
	w.Logger = logger
	w.Hooks = Hooks{Locked: record("locked"), Worked: record("worked"), Failed: record("failed"),
		Panicked: record("panicked"), UnknownType: record("unknown"), GivenUp: record("givenup")}
	for range 3 {
		w.WorkOne()
	}
	want := map[string]int{"locked": 3, "worked": 1, "failed": 2, "panicked": 1, "unknown": 1}
	for name, n := range want {
		if len(events[name]) != n {
			t.Errorf("%s hook called %d times, want %d", name, len(events[name]), n)
		}
	}
	if p := events["panicked"]; len(p) == 1 && (p[0].Panic != "oh no" || !bytes.Contains(p[0].Stack, []byte("hooks_test.go"))) {
		t.Errorf("panicked event: %v", p[0].Panic)
	}
	out := logs.String()
	for _, s := range []string{"job_id=", "job_class=Panics", "queue=" + q, "error_count=0", "duration=", "qg: job failed", "qg: job worked"} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %q", s)
		}
	}
}
