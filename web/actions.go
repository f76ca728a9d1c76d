package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/qg-go/qg"
)

// maxForm bounds an action's form body.
const maxForm = 64 << 10

// errBadAction is wrapped by the actions for a form or path they cannot
// read; the handler answers 400 with its text.
var errBadAction = errors.New("bad request")

// actionFunc does one action and says what it did, for the page the
// browser is sent back to; back is that page's path and query.
type actionFunc func(ctx context.Context, r *http.Request) (done, back string, err error)

// action wraps an actionFunc with the checks every action passes: the
// authorization hook, then the CSRF token. A job a worker holds, or one
// gone, is the operator's news, not a failure: it is reported on the page.
func (h *Handler) action(do actionFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := h.cfg.Authorize(r); err != nil {
			http.Error(w, "not authorized: "+err.Error(), http.StatusForbidden)
			return
		}
		if err := h.checkCSRF(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		done, back, err := do(r.Context(), r)
		switch {
		case errors.Is(err, qg.ErrJobRunning):
			done = "left alone: a worker holds the job right now; try again once it is done"
		case errors.Is(err, qg.ErrJobNotFound):
			done = "nothing changed: the job is not in que_jobs any more"
		case errors.Is(err, qg.ErrCancelUnavailable), errors.Is(err, qg.ErrPauseUnavailable):
			done = "nothing changed: this needs qg's side tables (run qg migrate), then a restart of this server"
		case errors.Is(err, errBadAction):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case err != nil:
			h.fail(w, r, "action", err)
			return
		}
		if h.cfg.Logger != nil {
			h.cfg.Logger.InfoContext(r.Context(), "qg/web: action", "path", r.URL.Path, "done", done)
		}
		http.Redirect(w, r, prefix(r)+back+sep(back)+h.flashQuery(done), http.StatusSeeOther)
	})
}

// sep is the separator that adds a parameter to back's query.
func sep(back string) string {
	for _, c := range back {
		if c == '?' {
			return "&"
		}
	}
	return "?"
}

// pathID is the job id of the action's path.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: bad job id %q", errBadAction, r.PathValue("id"))
	}
	return id, nil
}

// retryOne makes one job run now (re-enqueues it when given up).
func (h *Handler) retryOne(ctx context.Context, r *http.Request) (string, string, error) {
	id, err := pathID(r)
	if err != nil {
		return "", "/jobs", err
	}
	back := "/jobs/" + strconv.FormatInt(id, 10)
	if err := h.c.RetryJob(ctx, id); err != nil {
		return "", back, err
	}
	return fmt.Sprintf("job %d will run now", id), back, nil
}

// deleteOne removes one job without running it.
func (h *Handler) deleteOne(ctx context.Context, r *http.Request) (string, string, error) {
	id, err := pathID(r)
	if err != nil {
		return "", "/jobs", err
	}
	if err := h.c.DeleteJob(ctx, id); err != nil {
		return "", "/jobs/" + strconv.FormatInt(id, 10), err
	}
	return fmt.Sprintf("job %d deleted", id), "/jobs", nil
}

// retryMany retries the jobs of the posted filter whose job_id is at most
// upto (the last one the page showed), at most Config.BulkLimit of them,
// and counts those left alone because a worker holds them.
func (h *Handler) retryMany(ctx context.Context, r *http.Request) (string, string, error) {
	form := url.Values{}
	for _, k := range []string{"queue", "default", "class", "state"} {
		if v := r.PostFormValue(k); v != "" {
			form.Set(k, v)
		}
	}
	lf, f, err := parseFilter(form)
	back := "/jobs?" + string(lf.query(0))
	if err != nil {
		return "", back, err
	}
	upto, err := strconv.ParseInt(r.PostFormValue("upto"), 10, 64)
	if err != nil || upto <= 0 {
		return "", back, fmt.Errorf("%w: bulk retry without upto", errBadAction)
	}
	retried, held, gone, err := h.retryFiltered(ctx, f, upto)
	if err != nil {
		return "", back, err
	}
	return fmt.Sprintf("%d jobs will run now; %d left alone (a worker holds them); %d gone meanwhile",
		retried, held, gone), back, nil
}

// retryFiltered retries, page by page, the jobs f chooses up to job upto.
func (h *Handler) retryFiltered(ctx context.Context, f qg.JobFilter, upto int64) (retried, held, gone int, err error) {
	f.Limit = 500
	for retried+held+gone < h.cfg.BulkLimit {
		page, err := h.c.ListJobs(ctx, f)
		if err != nil || len(page) == 0 {
			return retried, held, gone, err
		}
		for _, j := range page {
			if j.ID > upto || retried+held+gone >= h.cfg.BulkLimit {
				return retried, held, gone, nil
			}
			switch err := h.c.RetryJob(ctx, j.ID); {
			case errors.Is(err, qg.ErrJobRunning):
				held++
			case errors.Is(err, qg.ErrJobNotFound):
				gone++
			case err != nil:
				return retried, held, gone, err
			default:
				retried++
			}
		}
		f.AfterID = page[len(page)-1].ID
	}
	return retried, held, gone, nil
}
