package qg

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fuzzBatch is the batch pool FuzzHostileRows shares between its inputs,
// started on first use and never shut down (the run's database is dropped
// at the end).
var fuzzBatch struct {
	once sync.Once
	runs sync.Map // marker -> *atomic.Int32
}

// fuzzRowsWork counts the runs of each row by the marker in its args.
func fuzzRowsWork(j *Job) error {
	var marker int64
	if err := j.DecodeArgs(&marker); err != nil {
		return err
	}
	n, _ := fuzzBatch.runs.LoadOrStore(marker, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
	if marker%2 == 0 { // through the job's transaction
		_, err := j.Tx().ExecContext(j.Context(), `SELECT 1`)
		return err
	}
	return nil
}

var fuzzMarkers atomic.Int64

// FuzzHostileRows writes rows another producer can write (any run_at up to
// now, back to 4713 BC and -infinity; any error_count and priority; two rows
// sharing a job_id) and works them through a real Worker, in the default
// mode and through a batch pool: every row is worked exactly once, none is
// left, and no lock stays behind.
func FuzzHostileRows(f *testing.F) {
	f.Add(int64(0), int32(0), int16(100), false, false)
	f.Add(int64(-63_000_000_000_000_000), int32(2147483647), int16(-32768), true, true) // before the common era
	f.Add(int64(-2_208_988_800_000_000), int32(-2147483648), int16(32767), true, false) // 1900
	f.Add(int64(-211_000_000_000_000_001), int32(2147483646), int16(1), false, true)    // -infinity
	f.Fuzz(func(t *testing.T, micros int64, errorCount int32, priority int16, share, batch bool) {
		c, err := NewClient2(testDB)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		q := "fuzz_rows_default"
		if batch {
			q = "fuzz_rows_batch"
			fuzzBatch.once.Do(func() {
				bc, err := NewClient2(testDB)
				if err != nil {
					t.Fatal(err)
				}
				p := NewWorkerPool(bc, WorkMap{"Row": fuzzRowsWork}, 2)
				p.Queue, p.Interval, p.Batch = q, 10*time.Millisecond, 4
				p.Start()
			})
		}
		markers := []int64{fuzzMarkers.Add(1)}
		var id int64
		err = testDB.QueryRow(`INSERT INTO que_jobs (queue, priority, run_at, job_class, args, error_count)
VALUES ($1, $2, CASE WHEN $3::bigint < -210000000000000000 THEN '-infinity'::timestamptz
  ELSE least(greatest('epoch'::timestamptz + $3::bigint * interval '1 microsecond', '4713-01-01 00:00:00+00 BC'), now()) END,
  'Row', json_build_array($4::bigint), $5) RETURNING job_id`, q, priority, micros, markers[0], errorCount).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		if share {
			markers = append(markers, fuzzMarkers.Add(1))
			res, err := testDB.Exec(`INSERT INTO que_jobs (queue, priority, run_at, job_id, job_class, args, error_count)
VALUES ($1, $2, now() - interval '1 second', $3, 'Row', json_build_array($4::bigint), $5)
ON CONFLICT DO NOTHING`, q, priority/2, id, markers[1], errorCount)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n == 0 { // that full key is the first row's
				markers = markers[:1]
			}
		}
		if !batch {
			w := newTestWorker(c, q, WorkMap{"Row": fuzzRowsWork})
			for i := 0; i < 4 && countJobs(t, q) > 0; i++ {
				w.WorkOne()
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for countJobs(t, q) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("rows left in %s", q)
			}
			time.Sleep(5 * time.Millisecond)
		}
		for _, m := range markers {
			n, ok := fuzzBatch.runs.Load(m)
			if !ok || n.(*atomic.Int32).Load() != 1 {
				t.Fatalf("row %d (run_at %d µs, error_count %d, priority %d) ran %v times", m, micros, errorCount, priority, n)
			}
		}
		if !batch {
			assertNoLocks(t)
		}
	})
}
