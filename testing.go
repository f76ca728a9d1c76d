package qg

import "github.com/jackc/pgx/v4"

// TestInjectJobConn gives j the connection conn, as if LockJob had locked it
// there, so a WorkFunc can be unit-tested with Job.Conn. Delete and Error then
// run on conn (or on an injected transaction); Done does not touch conn. It
// returns j.
func TestInjectJobConn(j *Job, conn *pgx.Conn) *Job {
	j.pgxConn = conn
	j.ensureDialect()
	return j
}

// TestInjectJobTx gives j the transaction tx, as a Worker would, so a
// WorkFunc can be unit-tested with Job.Tx. Delete and Error then run inside
// tx, which stays the caller's to commit or roll back: Done leaves it alone.
// It returns j.
func TestInjectJobTx(j *Job, tx Txer) *Job {
	j.tx = tx
	j.injectedTx = true
	j.ensureDialect()
	return j
}

// ensureDialect gives a Job built by hand (for tests) the table's statements.
func (j *Job) ensureDialect() {
	if j.d == nil {
		j.d = que0
	}
}
