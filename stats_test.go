package qg

import (
	"context"
	"testing"
)

func TestStatsCountsOnlyJobLocksOfThisDatabase(t *testing.T) {
	c, q := setup(t)
	a := enqueue(t, c, &Job{Queue: q, Type: "A"})
	enqueue(t, c, &Job{Queue: q, Type: "A"})
	b := enqueue(t, c, &Job{Queue: q, Type: "B"})
	if _, err := testDB.Exec(`UPDATE que_jobs SET error_count = 3 WHERE job_id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	j := mustLock(t, c, q)
	defer j.Done()
	// A two-int4 lock whose halves spell b's id must not count as working.
	conn, err := testDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock_all()`)
		conn.Close()
	}()
	if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_lock(0, $1::int)`, b.ID); err != nil {
		t.Fatal(err)
	}
	// The same job id locked in another database must not count either.
	other := otherDatabaseLock(t, b.ID)
	defer other()
	stats, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]JobStats{}
	for _, s := range stats {
		if s.Queue == q {
			got[s.Type] = s
		}
	}
	sa, sb := got["A"], got["B"]
	if sa.Count != 2 || sa.CountWorking != 1 || sa.CountErrored != 0 || j.ID != a.ID {
		t.Errorf("A: %+v (locked %d)", sa, j.ID)
	}
	if sb.Count != 1 || sb.CountWorking != 0 || sb.CountErrored != 1 || sb.HighestErrorCount != 3 {
		t.Errorf("B: %+v", sb)
	}
}
