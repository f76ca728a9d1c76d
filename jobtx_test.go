package qg

import (
	"errors"
	"strings"
	"testing"
)

// A WorkFunc that records an error inside its transaction and then fails:
// the rollback undoes that error, and the Worker's own failure must still be
// recorded on the row, with the backoff of a first failure.
func TestErrorInRolledBackTxStillRecordsFailure(t *testing.T) {
	c, q := setup(t)
	failing := enqueue(t, c, &Job{Queue: q, Type: "ErrorsThenFails", Priority: 1})
	aborted := enqueue(t, c, &Job{Queue: q, Type: "ErrorsThenAborts", Priority: 2})
	w := newTestWorker(c, q, WorkMap{
		"ErrorsThenFails": func(j *Job) error {
			if err := j.Error("inner"); err != nil {
				return err
			}
			return errors.New("outer")
		},
		// The commit rolls back: the error recorded inside is undone too.
		"ErrorsThenAborts": func(j *Job) error {
			if err := j.Error("inner"); err != nil {
				return err
			}
			_, _ = j.Tx().Exec(`SELECT 1/0`)
			return nil
		},
	})
	w.WorkOne()
	w.WorkOne()
	for _, j := range []*Job{failing, aborted} {
		count, msg, delay, found := jobRow(t, j.ID)
		if !found || count != 1 || msg == "inner" || delay < 2 || delay > 6 {
			t.Errorf("%s: found %v count %d delay %.1f msg %q", j.Type, found, count, delay, msg)
		}
	}
	if _, msg, _, _ := jobRow(t, aborted.ID); !strings.Contains(msg, "aborted") {
		t.Errorf("ErrorsThenAborts: last error %q, want the aborted commit", msg)
	}
}
