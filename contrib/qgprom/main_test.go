package qgprom_test

import (
	"database/sql"
	"os"
	"testing"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/internal/qgtest"
)

// testDB is a pool on the database created for this test run.
var testDB *sql.DB

func TestMain(m *testing.M) { os.Exit(qgtest.Main(m, "qgprom_test", &testDB)) }

// setup returns a Client and a queue of the test's own.
func setup(t *testing.T) (*qg.Client, string) { return qgtest.Setup(t, testDB) }
