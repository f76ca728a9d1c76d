package qg

import (
	"errors"
	"strings"
	"testing"
)

// TestNilClientPanicsAtConstruction checks that a nil Client (NewClient's
// failure) is a clear panic where the Worker, pool or Scheduler is built,
// not a crash later in one of their goroutines.
func TestNilClientPanicsAtConstruction(t *testing.T) {
	t.Parallel()
	for name, construct := range map[string]func(){
		"NewWorker":     func() { NewWorker(nil, WorkMap{}) },
		"NewWorkerPool": func() { NewWorkerPool(nil, WorkMap{}, 2) },
		"NewScheduler":  func() { NewScheduler(nil) },
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				for _, s := range []string{"qg: " + name, "nil *Client", "NewClient2"} {
					if !strings.Contains(msg, s) {
						t.Errorf("%s(nil): panic %q lacks %q", name, msg, s)
					}
				}
			}()
			construct()
		}()
	}
}

// TestNewClientErrorSaysQgOnce checks that NewClient2's error on a database
// without que_jobs reads as one sentence, with one "qg: " prefix, and still
// wraps ErrNoTable.
func TestNewClientErrorSaysQgOnce(t *testing.T) {
	db := scratchDB(t)
	_, err := NewClient2(db)
	if !errors.Is(err, ErrNoTable) {
		t.Fatalf("NewClient2 without que_jobs: %v, want ErrNoTable", err)
	}
	if n := strings.Count(err.Error(), "qg: "); n != 1 {
		t.Errorf("error %q has %d qg: prefixes, want 1", err, n)
	}
	if want := "qg: new client: table que_jobs does not exist (run qg.Migrate)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
