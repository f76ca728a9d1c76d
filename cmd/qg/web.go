package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/web"
)

var webCommand = &command{
	name:     "web",
	summary:  "serve the dashboard and /metrics over HTTP",
	synopsis: "web [--addr ADDR] [--actions] [--database-url URL]",
	usage: `
Web serves the dashboard of que_jobs (every queue and job class by state, the
job list with its filters, each job's page, the periodic jobs and the unique
keys) and GET /metrics in Prometheus' text format, until interrupted. It
prints the URL it serves on once it listens. On a Ruby Que 2.x table it
shows kwargs, tags, data, backtraces, expired and finished jobs, and rows of
another job_schema_version.

It is read-only unless --actions is given: then from the pages a job can be
retried, deleted, re-enqueued, snoozed or cancelled, a filtered list
retried, and a queue paused or resumed, and the whole site asks for the
secret read from the environment variable that --secret-env names (HTTP
basic auth with any user name and the secret as password, or an
"Authorization: Bearer <secret>" header). --actions without that secret
refuses to start. A job a worker holds is never changed, but by cancel,
which asks the qg worker holding it to stop it.

It binds to loopback (127.0.0.1:8080) unless --addr says otherwise, and warns
when it serves another interface without a secret. Plain HTTP only: put a TLS
proxy in front to serve it beyond one machine.`,
	setup: func(fs *flag.FlagSet) runner {
		o := &webOptions{}
		fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on (port 0: any free port)")
		fs.BoolVar(&o.actions, "actions", false, "turn the actions on (retry, delete, re-enqueue, bulk retry, snooze, cancel, pause, resume); needs the secret")
		fs.StringVar(&o.secretEnv, "secret-env", "QG_WEB_SECRET", "the environment `variable` holding the secret that guards the site")
		return o.run
	},
}

// webOptions are the flags of qg web.
type webOptions struct {
	addr      string
	actions   bool
	secretEnv string
}

// minSecret is the shortest secret qg web accepts.
const minSecret = 12

// run serves the dashboard until ctx ends.
func (o *webOptions) run(ctx context.Context, e *env, opts *options) error {
	secret := e.getenv(o.secretEnv)
	if o.actions && len(secret) < minSecret {
		return usagef("--actions needs a secret of at least %d characters in $%s", minSecret, o.secretEnv)
	}
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := qg.NewClient2(db)
	if err != nil {
		return err
	}
	defer c.Close()
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	cfg := web.Config{Actions: o.actions, Logger: logger}
	if secret != "" {
		cfg.Authorize = func(r *http.Request) error { return checkSecret(r, secret) }
	}
	h, err := web.New(c, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return usagef("listen on %s: %v", o.addr, err)
	}
	o.warn(e, ln.Addr(), secret != "")
	mode := "read-only"
	if o.actions {
		mode = "actions on"
	}
	fmt.Fprintf(e.stdout, "qg web: serving http://%s/ (%s)\n", ln.Addr(), mode)
	return serve(ctx, ln, guard(h, secret))
}

// warn tells the operator when the site is reachable beyond this machine.
func (o *webOptions) warn(e *env, addr net.Addr, hasSecret bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsLoopback() {
		return
	}
	switch {
	case !hasSecret:
		fmt.Fprintf(e.stderr, "qg web: warning: listening on %s, beyond loopback, with no secret: anyone who reaches it reads the jobs' args and errors\n", addr)
	case o.actions:
		fmt.Fprintf(e.stderr, "qg web: warning: listening on %s, beyond loopback, over plain HTTP: the secret crosses the network in clear; use a TLS proxy\n", addr)
	}
}

// guard asks for the secret on every request when there is one.
func guard(h http.Handler, secret string) http.Handler {
	if secret == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkSecret(r, secret); err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="qg web", charset="UTF-8"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// errBadSecret refuses a request without the secret.
var errBadSecret = errors.New("this qg web asks for its secret (basic auth password or bearer token)")

// checkSecret accepts a request carrying the secret as basic auth password
// or bearer token, comparing in constant time.
func checkSecret(r *http.Request, secret string) error {
	got := ""
	if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = tok
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
		return errBadSecret
	}
	return nil
}

// serve serves h on ln until ctx ends, then shuts down, giving requests in
// flight five seconds.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
