package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/qg-go/qg"
)

// feature is one opt-in part of qg that `qg enable` installs.
type feature struct {
	name     string
	installs string // what enable puts in the database, and what it costs
	enable   func(ctx context.Context, db *sql.DB) error
}

// features are what `qg enable` takes, in the order its usage lists them.
var features = []feature{
	{"notify", `the trigger qg_notify_que_jobs on que_jobs (AFTER INSERT, and its function):
it sends a NOTIFY on channel qg_que_jobs with the queue's name for each job
runnable at once, whoever inserts it, so pools with Listen set wake at once
instead of at their next poll. Ruby Que 0.x ignores it.`, qg.InstallNotifyTrigger},
	{"unique", `the triggers qg_unique_deleted, qg_unique_buried and qg_unique_truncated on
que_jobs: they free a unique job's key in qg_unique when the job leaves
que_jobs (worked by a Go or a Ruby worker, deleted, given up, truncated), so
enqueues with Unique, UniqueKey or UniqueFor work. Every delete then pays
one index probe of qg_unique.`, qg.EnableUniqueJobs},
	{"archive", `the trigger qg_archive_jobs on que_jobs (AFTER DELETE, per statement): it
copies every deleted job, with finished_at and its outcome (worked or
deleted), into qg_jobs_archive (created if missing). On a Ruby Que 2.x
table it is a BEFORE DELETE trigger instead, and finished jobs stay in
que_jobs with finished_at set, as Que 2's finish leaves them. Prune it with
'qg prune --older-than 30d'.`, qg.EnableArchive},
}

var enableCommand = &command{
	name:     "enable",
	summary:  "install an opt-in feature's triggers: notify, unique or archive",
	synopsis: "enable notify|unique|archive [--database-url URL] [--json]",
	usage:    enableUsage(),
	operand:  "feature (notify, unique or archive)",
	setup:    func(fs *flag.FlagSet) runner { return runEnable },
}

// enableUsage lists the features and what each installs.
func enableUsage() string {
	var b strings.Builder
	b.WriteString(`
Enable installs one of qg's opt-in features on que_jobs. Each is idempotent,
needs the right to create triggers on que_jobs (its owner), and leaves the
table's columns alone, so Ruby Que keeps working it. Run 'qg migrate' first.
`)
	for _, f := range features {
		fmt.Fprintf(&b, "\n%s installs %s\n", f.name, f.installs)
	}
	return b.String()
}

// enableResult is what enable prints.
type enableResult struct {
	Feature  string `json:"feature"`
	Installs string `json:"installs"`
}

// runEnable installs the feature the operand names.
func runEnable(ctx context.Context, e *env, opts *options) error {
	var f *feature
	for i := range features {
		if features[i].name == opts.operand {
			f = &features[i]
		}
	}
	if f == nil {
		return usagef("unknown feature %q: want notify, unique or archive", opts.operand)
	}
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := checkTable(db); err != nil {
		return err
	}
	if err := f.enable(ctx, db); err != nil {
		return err
	}
	return render(e, opts, &enableResult{f.name, strings.Join(strings.Fields(f.installs), " ")})
}

// printText says what was installed.
func (res *enableResult) printText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "enabled %s: installed %s\n", res.Feature, res.Installs)
	return err
}

// archiveEnabled reports whether the archive trigger is on que_jobs.
func archiveEnabled(ctx context.Context, db *sql.DB) (bool, error) {
	var on bool
	err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger
WHERE tgrelid = to_regclass('que_jobs') AND tgname = 'qg_archive_jobs')`).Scan(&on)
	if err != nil {
		return false, fmt.Errorf("look for the archive trigger: %w", err)
	}
	return on, nil
}
