package qg

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// TestUnreachableDatabase: NewClient2 on a pool whose server does not
// answer returns an error, promptly, without panicking.
func TestUnreachableDatabase(t *testing.T) {
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type result struct {
		c        *Client
		err      error
		c1       *Client
		migrate  error
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.panicked = recover()
			done <- r
		}()
		r.c, r.err = NewClient2(db)
		r.c1 = NewClient(db)
		r.migrate = Migrate(context.Background(), db)
	}()
	select {
	case r := <-done:
		if r.panicked != nil {
			t.Fatalf("panic: %v", r.panicked)
		}
		if r.err == nil || r.c != nil || r.c1 != nil || r.migrate == nil {
			t.Fatalf("NewClient2 = %v, %v; NewClient = %v; Migrate = %v", r.c, r.err, r.c1, r.migrate)
		}
		if !strings.Contains(r.err.Error(), "127.0.0.1") && !strings.Contains(r.err.Error(), "connect") {
			t.Errorf("error does not say what is unreachable: %v", r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("NewClient2 on an unreachable server hung for 60s")
	}
}
