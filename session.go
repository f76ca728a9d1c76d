package qg

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// session names one server session. A pid alone does not: once a session
// ends, the server gives its pid to a later one, of any program (a Ruby
// locker, say), and terminating that would abort it. The pid with the
// session's start time names exactly one.
type session struct {
	pid   uint32    // pg_backend_pid(): the server's, even behind a pooler
	start time.Time // pg_stat_activity.backend_start
}

// readSession asks the server which session conn is on. Behind a pooler the
// pid the driver was told at connect time is the pooler's, not the server's,
// so the pid is read too.
const readSession = `/* qg:session */ SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`

// sessionCache remembers the session of each driver connection (the value
// database/sql's Raw hands out, whatever the driver), so that
// naming it costs one round trip per connection, not one per job.
//
// database/sql closes connections without telling, and asking a connection
// whether it is closed races with the goroutine using it, so the cache ages
// entries out instead: it keeps two generations, moves a connection into the
// current one whenever it is used, and drops the older generation whole when
// the current one fills. A connection unused for a generation is asked again.
type sessionCache struct {
	mu       sync.Mutex
	current  map[any]session
	previous map[any]session
}

// sessionGeneration is how many connections one generation of the cache
// holds; the cache holds at most twice as many.
const sessionGeneration = 256

// of returns the session conn is on, asking the server the first time.
func (s *sessionCache) of(ctx context.Context, conn *sql.Conn) (session, error) {
	key, err := driverConn(conn)
	if err != nil {
		return session{}, err
	}
	if sess, ok := s.lookup(key); ok {
		return sess, nil
	}
	var pid int64
	var sess session
	if err := conn.QueryRowContext(ctx, readSession).Scan(&pid, &sess.start); err != nil {
		return session{}, fmt.Errorf("qg: read the connection's server session: %w", err)
	}
	sess.pid = uint32(pid)
	s.remember(key, sess)
	return sess, nil
}

// driverConn is the driver connection under conn, a key that outlives the
// *sql.Conn wrapping it.
func driverConn(conn *sql.Conn) (any, error) {
	var key any
	err := conn.Raw(func(dc any) error {
		key = dc
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("qg: read the connection's server session: %w", err)
	}
	return key, nil
}

// lookup finds conn in either generation, moving it into the current one.
func (s *sessionCache) lookup(conn any) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.current[conn]; ok {
		return sess, true
	}
	sess, ok := s.previous[conn]
	if ok {
		s.rememberLocked(conn, sess)
	}
	return sess, ok
}

// remember records conn's session in the current generation.
func (s *sessionCache) remember(conn any, sess session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rememberLocked(conn, sess)
}

func (s *sessionCache) rememberLocked(conn any, sess session) {
	if len(s.current) >= sessionGeneration {
		s.previous, s.current = s.current, nil
	}
	if s.current == nil {
		s.current = make(map[any]session, sessionGeneration)
	}
	s.current[conn] = sess
}

// size is how many connections the cache holds.
func (s *sessionCache) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.current) + len(s.previous)
}
