package qg

import (
	"strings"
	"testing"
	"time"
)

func TestJobTimeoutRecordsOverrun(t *testing.T) {
	c, q := setup(t)
	waiting := enqueue(t, c, &Job{Queue: q, Type: "Waits", Priority: 1})
	querying := enqueue(t, c, &Job{Queue: q, Type: "Queries", Priority: 2})
	w := newTestWorker(c, q, WorkMap{
		"Waits": func(j *Job) error {
			<-j.Context().Done()
			return j.Context().Err()
		},
		// Interrupting a statement closes the pinned connection: the
		// failure must still be recorded.
		"Queries": func(j *Job) error {
			_, err := j.Tx().ExecContext(j.Context(), `SELECT pg_sleep(30)`)
			return err
		},
	})
	w.JobTimeout = 200 * time.Millisecond
	w.WorkOne()
	w.WorkOne()
	for _, j := range []*Job{waiting, querying} {
		count, msg, delay, found := jobRow(t, j.ID)
		if !found || count != 1 || !strings.Contains(msg, "exceeded its timeout of 200ms") || delay < 2 {
			t.Errorf("job %s: found %v count %d delay %.1f msg %q", j.Type, found, count, delay, msg)
		}
	}
}
