package qg_test

import (
	"database/sql"
	"fmt"
	"os"

	"github.com/qg-go/qg"
)

// chargeCard is a WorkFunc under test: it records a charge through the job's
// transaction.
func chargeCard(j *qg.Job) error {
	var cents int
	if err := j.DecodeArgs(&cents); err != nil {
		return err
	}
	_, err := j.Tx().Exec(`INSERT INTO example_charges (cents) VALUES ($1)`, cents)
	return err
}

// Unit-test a WorkFunc without a Worker: inject a transaction, call the
// WorkFunc, look at its writes, and roll everything back.
func ExampleTestInjectJobTx() {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		panic(err)
	}
	defer tx.Rollback() // the test leaves nothing behind
	if _, err := tx.Exec(`CREATE TABLE example_charges (cents int)`); err != nil {
		panic(err)
	}

	j := qg.TestInjectJobTx(&qg.Job{Type: "ChargeCard", Args: []byte(`[1250]`)}, tx)
	if err := chargeCard(j); err != nil {
		panic(err)
	}

	var total int
	if err := tx.QueryRow(`SELECT sum(cents) FROM example_charges`).Scan(&total); err != nil {
		panic(err)
	}
	fmt.Println("charged cents:", total)
	// Output:
	// charged cents: 1250
}
