package qg

import (
	"errors"
	"testing"
)

func TestSyncMode(t *testing.T) {
	c, q := setup(t)
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS sync_effects (v text)`); err != nil {
		t.Fatal(err)
	}
	c.Sync = WorkMap{
		"Write": func(j *Job) error {
			var v string
			if err := j.DecodeArgs(&v); err != nil {
				return err
			}
			if _, err := j.Tx().Exec(`INSERT INTO sync_effects VALUES ($1)`, v); err != nil {
				return err
			}
			return j.Delete()
		},
		"Fail": func(*Job) error { return errors.New("sync failure") },
	}
	if err := c.Enqueue(&Job{Queue: q, Type: "Write", Args: []byte(`["own tx"]`)}); err != nil {
		t.Fatal(err)
	}
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueInTx(&Job{Queue: q, Type: "Write", Args: []byte(`["caller tx"]`)}, tx); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback() // undoes the WorkFunc's write with the caller's
	if err := c.Enqueue(&Job{Queue: q, Type: "Fail"}); err == nil || err.Error() != "sync failure" {
		t.Fatalf("failing WorkFunc: %v", err)
	}
	if err := c.Enqueue(&Job{Queue: q, Type: "Missing"}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: %v", err)
	}
	var vs string
	if err := testDB.QueryRow(`SELECT string_agg(v, ',') FROM sync_effects`).Scan(&vs); err != nil {
		t.Fatal(err)
	}
	if vs != "own tx" || countJobs(t, q) != 0 {
		t.Fatalf("effects %q, jobs %d", vs, countJobs(t, q))
	}
}
