package qg

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
)

// The opt-in features on a Ruby Que 2.x table: each checks the table's
// generation, so none leaves a 0.x trigger (naming job_id) that would make
// Ruby's destroy fail.

func TestQue2FeaturesCheckTheTable(t *testing.T) {
	t.Parallel()
	db, _ := newQue2Database(t)
	ctx := context.Background()
	triggers := func() string {
		t.Helper()
		return strings.Join(catalogRows(t, db, `SELECT tgname FROM pg_trigger
WHERE tgrelid = 'public.que_jobs'::regclass AND NOT tgisinternal AND tgname LIKE 'qg\_%' ORDER BY 1`), ",")
	}
	// InstallNotifyTrigger installs nothing: Que 2's que_state_notify does it.
	if err := InstallNotifyTrigger(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := triggers(); got != "" {
		t.Errorf("InstallNotifyTrigger left %s", got)
	}
	// EnableArchive installs this table's trigger; DisableArchive drops it.
	if err := EnableArchive(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := triggers(); got != "qg_archive_jobs" {
		t.Errorf("EnableArchive installed %q", got)
	}
	if err := DisableArchive(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := triggers(); got != "" {
		t.Errorf("DisableArchive left %s", got)
	}
	// EnableUniqueJobs installs triggers keyed by id: a unique job holds
	// its key until a raw DELETE, as Ruby's destroy runs it, and that DELETE
	// works.
	if err := EnableUniqueJobs(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := triggers(); got != "qg_unique_deleted,qg_unique_ended,qg_unique_truncated" {
		t.Errorf("EnableUniqueJobs installed %s", got)
	}
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := &Job{Type: "SendEmail", Queue: "unique", Args: []byte(`[1]`), Unique: true}
	if err := c.Enqueue(first); err != nil || first.Duplicate {
		t.Fatalf("first unique enqueue: %v, duplicate %v", err, first.Duplicate)
	}
	again := &Job{Type: "SendEmail", Queue: "unique", Args: []byte(`[1]`), Unique: true}
	if err := c.Enqueue(again); err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("second unique enqueue: %v, duplicate %v, id %d (first %d)", err, again.Duplicate, again.ID, first.ID)
	}
	if _, err := db.Exec(`DELETE FROM public.que_jobs WHERE id = $1`, first.ID); err != nil {
		t.Fatalf("Ruby's destroy with the unique triggers on: %v", err)
	}
	third := &Job{Type: "SendEmail", Queue: "unique", Args: []byte(`[1]`), Unique: true}
	if err := c.Enqueue(third); err != nil || third.Duplicate {
		t.Fatalf("unique enqueue after the delete: %v, duplicate %v", err, third.Duplicate)
	}
	// An expired job frees its key too.
	if _, err := db.Exec(`UPDATE public.que_jobs SET expired_at = now() WHERE id = $1`, third.ID); err != nil {
		t.Fatal(err)
	}
	fourth := &Job{Type: "SendEmail", Queue: "unique", Args: []byte(`[1]`), Unique: true}
	if err := c.Enqueue(fourth); err != nil || fourth.Duplicate {
		t.Fatalf("unique enqueue after expiry: %v, duplicate %v", err, fourth.Duplicate)
	}
	if err := DisableUniqueJobs(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := triggers(); got != "" {
		t.Errorf("DisableUniqueJobs left %s", got)
	}
}

// TestFeaturesRefuseQue1Table: on a table of a version qg does not work
// (a Que 1.x table, keyed by id like Que 2's), the opt-in features install
// nothing, since their 0.x triggers would make Ruby's deletes fail.
func TestFeaturesRefuseQue1Table(t *testing.T) {
	t.Parallel()
	db, _ := newQue2Database(t)
	ctx := context.Background()
	if _, err := db.Exec(`COMMENT ON TABLE que_jobs IS '5'`); err != nil {
		t.Fatal(err)
	}
	for name, install := range map[string]func(context.Context, *sql.DB) error{
		"InstallNotifyTrigger": InstallNotifyTrigger, "EnableArchive": EnableArchive,
		"EnableUniqueJobs": EnableUniqueJobs,
	} {
		if err := install(ctx, db); !errors.Is(err, ErrSchemaVersion) {
			t.Errorf("%s on a version 5 table: %v, want ErrSchemaVersion", name, err)
		}
	}
	if got := catalogRows(t, db, `SELECT tgname FROM pg_trigger
WHERE tgrelid = 'public.que_jobs'::regclass AND tgname LIKE 'qg\_%'`); len(got) != 0 {
		t.Errorf("triggers installed: %v", got)
	}
}
