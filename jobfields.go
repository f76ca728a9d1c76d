package qg

import (
	"database/sql"
	"time"
)

// jobFields are the fields of a Job that recording a failure or giving the
// job up changes. The first three are part of the row's key, by which every
// later statement on the job finds its row.
type jobFields struct {
	queue      string
	runAt      time.Time
	errorCount int32
	lastError  sql.NullString
}

// fields returns the job's jobFields. Only the job's own goroutine, the
// one that changes them, may call it; others use snapshot.
func (j *Job) fields() jobFields {
	return jobFields{queue: j.Queue, runAt: j.RunAt, errorCount: j.ErrorCount, lastError: j.LastError}
}

// setFields changes the job's jobFields, under fieldsMu so that another
// goroutine (a shutdown logging the job) reads them whole.
func (j *Job) setFields(f jobFields) {
	j.fieldsMu.Lock()
	defer j.fieldsMu.Unlock()
	j.Queue, j.RunAt, j.ErrorCount, j.LastError = f.queue, f.runAt, f.errorCount, f.lastError
}

// snapshot returns the job's jobFields from any goroutine.
func (j *Job) snapshot() jobFields {
	j.fieldsMu.Lock()
	defer j.fieldsMu.Unlock()
	return j.fields()
}

// saveFields remembers the job's fields before a statement in the job's own
// transaction changes them (once a transaction): if the transaction does not
// commit, the row keeps its old key and the Job must too.
func (j *Job) saveFields() {
	if j.tx == nil || j.injectedTx || j.saved != nil {
		return
	}
	f := j.fields()
	j.saved = &f
}

// settleFields ends what saveFields began: after a commit the changed fields
// are the row's, otherwise the saved ones are put back.
func (j *Job) settleFields(committed bool) {
	s := j.saved
	j.saved = nil
	if s == nil || committed {
		return
	}
	j.setFields(*s)
}
