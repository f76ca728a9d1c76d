package qg

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v4"
)

// victim opens a connection of its own on the test database and returns its
// session as the server names it, with a func that reports whether it is
// still alive.
func victim(t *testing.T) (session, func() bool) {
	t.Helper()
	ctx := context.Background()
	conn, err := testDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { discardConn(conn); _ = conn.Close() })
	var cache sessionCache
	sess, err := cache.of(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	alive := func() bool {
		var n int
		err := testDB.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2`,
			int64(sess.pid), sess.start).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	return sess, alive
}

// TestSessionNamesTheServerSession checks that the cache reads the pid the
// server gives the session (not the one the driver was told, which is a
// pooler's behind one) and its start time, and asks only once.
func TestSessionNamesTheServerSession(t *testing.T) {
	ctx := context.Background()
	conn, err := testDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var want session
	var pid int64
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid(), backend_start FROM pg_stat_activity
WHERE pid = pg_backend_pid()`).Scan(&pid, &want.start); err != nil {
		t.Fatal(err)
	}
	want.pid = uint32(pid)
	var cache sessionCache
	for range 3 {
		got, err := cache.of(ctx, conn)
		if err != nil || got.pid != want.pid || !got.start.Equal(want.start) {
			t.Fatalf("session = %+v, %v; want %+v", got, err, want)
		}
	}
	if n := cache.size(); n != 1 {
		t.Errorf("cache holds %d connections, want 1", n)
	}
}

// TestTerminateMatchesStartTime checks that ending a session whose pid now
// belongs to a later session (same pid, other start time) leaves that later
// session alone, and that the session itself is ended.
func TestTerminateMatchesStartTime(t *testing.T) {
	config := serverConfig(t)
	sess, alive := victim(t)
	reused := session{pid: sess.pid, start: sess.start.Add(-time.Second)}
	if err := terminateSessions(config, []session{reused}); err != nil {
		t.Fatal(err)
	}
	if !alive() {
		t.Fatal("a session whose pid matched but whose start time did not was terminated")
	}
	if err := terminateSessions(config, []session{sess}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the session to end", func() bool { return !alive() })
}

// TestSessionCacheForgetsClosedConnections checks that the cache does not
// grow with every connection database/sql ever opened, and that a connection
// still in use keeps its entry while closed ones age out.
func TestSessionCacheForgetsClosedConnections(t *testing.T) {
	ctx := context.Background()
	var cache sessionCache
	keep, err := testDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	kept, err := driverConn(keep)
	if err != nil {
		t.Fatal(err)
	}
	want, err := cache.of(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * sessionGeneration {
		conn, err := testDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cache.of(ctx, conn); err != nil {
			t.Fatal(err)
		}
		discardConn(conn)
		_ = conn.Close()
		if i%(sessionGeneration/2) == 0 {
			if got, ok := cache.lookup(kept); !ok || got != want {
				t.Fatalf("a connection in use was forgotten: got %+v, %v; want %+v", got, ok, want)
			}
		}
	}
	if n := cache.size(); n > 2*sessionGeneration {
		t.Errorf("cache holds %d connections; want at most %d", n, 2*sessionGeneration)
	}
}

// serverConfig is how the tests' Client reaches the server outside the pool.
func serverConfig(t *testing.T) *pgx.ConnConfig {
	t.Helper()
	conn, err := testDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pc, err := rawConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	return pc.Config()
}
