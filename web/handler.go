package web

import (
	"crypto/rand"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/qg-go/qg"
)

// ErrNoAuthorize is returned by [New] when Config.Actions is set without
// Config.Authorize: actions are never on without an authorization hook.
var ErrNoAuthorize = errors.New("qg/web: Config.Actions needs Config.Authorize")

// ErrNoClient is returned by [New] when it is given a nil Client.
var ErrNoClient = errors.New("qg/web: nil *qg.Client")

// Config configures a [Handler]. Its zero value is a read-only dashboard
// with 50 jobs a page, refreshing its counts every 5 seconds, that logs
// failures to slog.Default().
type Config struct {
	// Actions turns on the actions (retry, delete, re-enqueue, bulk
	// retry, snooze, cancel, pause and resume a queue). False (the
	// default): the handler is read-only and refuses every request but GET
	// and HEAD.
	Actions bool
	// Authorize is asked before every action, with the action's request; a
	// non-nil error refuses it (403, with the error's text). Required when
	// Actions is set. It is not asked for pages: wrap the handler to guard
	// reading too.
	Authorize func(*http.Request) error
	// Schedules gives the Schedule of each periodic job by Name, so that
	// the periodic page can show the next tick. Nil: only the last tick,
	// which the database records, is shown.
	Schedules map[string]qg.Schedule
	// PageSize is the number of jobs on a page of the job list. Zero: 50.
	PageSize int
	// RefreshInterval is how often the overview's script refreshes the
	// counts. Zero: 5 seconds; negative: never.
	RefreshInterval time.Duration
	// BulkLimit is the most jobs one bulk retry changes. Zero: 10,000.
	BulkLimit int
	// Logger gets the handler's failures (a database error behind a 500)
	// at Error and each action done at Info. Nil: failures go to
	// slog.Default() and the actions are not logged.
	Logger *slog.Logger
}

// Handler is the dashboard and metrics endpoint; make one with [New].
type Handler struct {
	c       *qg.Client
	cfg     Config
	mux     *http.ServeMux
	csrfKey []byte
}

// errorLog is where failures go: Config.Logger, else slog.Default().
func (h *Handler) errorLog() *slog.Logger {
	if h.cfg.Logger != nil {
		return h.cfg.Logger
	}
	return slog.Default()
}

//go:embed templates/*.html static/*
var files embed.FS

// New returns the dashboard of c's database. It fails when c is nil, or when
// cfg turns the actions on without an Authorize hook.
func New(c *qg.Client, cfg Config) (*Handler, error) {
	if c == nil {
		return nil, ErrNoClient
	}
	if cfg.Actions && cfg.Authorize == nil {
		return nil, ErrNoAuthorize
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 5 * time.Second
	}
	if cfg.BulkLimit <= 0 {
		cfg.BulkLimit = 10000
	}
	h := &Handler{c: c, cfg: cfg, csrfKey: make([]byte, 32)}
	if _, err := rand.Read(h.csrfKey); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

// routes registers the pages, and the actions when they are on.
func (h *Handler) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(files, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	m.HandleFunc("GET /{$}", h.overview)
	m.HandleFunc("GET /counts.json", h.counts)
	m.HandleFunc("GET /jobs", h.jobs)
	m.HandleFunc("GET /jobs/{id}", h.job)
	m.HandleFunc("GET /periodic", h.periodic)
	m.HandleFunc("GET /unique", h.unique)
	m.HandleFunc("GET /metrics", h.metrics)
	if h.cfg.Actions {
		m.Handle("POST /jobs/{id}/retry", h.action(h.retryOne))
		m.Handle("POST /jobs/{id}/delete", h.action(h.deleteOne))
		m.Handle("POST /jobs/retry", h.action(h.retryMany))
		m.Handle("POST /jobs/{id}/snooze", h.action(h.snoozeOne))
		m.Handle("POST /jobs/{id}/cancel", h.action(h.cancelOne))
		m.Handle("POST /queues/pause", h.action(h.pauseQueue))
		m.Handle("POST /queues/resume", h.action(h.resumeQueue))
	}
	h.mux = m
}

// ServeHTTP serves the dashboard. A read-only handler answers 405 to any
// method but GET and HEAD before looking at the path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w)
	if !h.cfg.Actions && r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: this dashboard's actions are off", http.StatusMethodNotAllowed)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// setSecurityHeaders keeps the pages from being framed, sniffed or running
// any script but the handler's own.
func setSecurityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
}

// prefix is the path the handler is mounted under: what http.StripPrefix
// took off the request's path ("" at the root).
func prefix(r *http.Request) string {
	orig := r.RequestURI
	if i := strings.IndexByte(orig, '?'); i >= 0 {
		orig = orig[:i]
	}
	p, ok := strings.CutSuffix(orig, r.URL.EscapedPath())
	if !ok || strings.Contains(p, "//") || !strings.HasPrefix(p, "/") {
		return ""
	}
	return p
}
