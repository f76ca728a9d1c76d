package web

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/qg-go/qg"
)

// pages holds one template set per page, each with the layout.
var pages = map[string]*template.Template{}

func init() {
	for _, name := range []string{"overview", "jobs", "job", "periodic", "unique", "error"} {
		pages[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
}

// funcs are the helpers the templates use.
var funcs = template.FuncMap{
	"age":       age,
	"when":      when,
	"pretty":    pretty,
	"trimmed":   trimmed,
	"counts":    countCells,
	"pauseForm": pauseForm,
	"given":     givenUp,
}

// countCells is what the overview's "counts" template writes a row of
// counts from: the counts, and the table's generation.
func countCells(c qg.QueueCounts, que2 bool) any {
	return struct {
		C    qg.QueueCounts
		Que2 bool
	}{c, que2}
}

// pauseForm is what the overview's "pause" template needs: the page's
// prefix, token and mode, the queue and since when it is paused (zero:
// it is not).
func pauseForm(v view, queue string, since time.Time) any {
	return struct {
		Prefix, CSRF, Queue string
		Actions             bool
		Since               time.Time
	}{v.Prefix, v.CSRF, queue, v.Actions, since}
}

// givenUp reports whether a job in state s is given up (dead on a Que 0.x
// table, expired on a 2.x one).
func givenUp(s qg.JobState) bool { return s == qg.JobDead || s == qg.JobExpired }

// view is what every page's template gets: the mount prefix, the page's
// own data, and the CSRF token of the actions' forms.
type view struct {
	Prefix  string
	Title   string
	Nav     string // the page's nav entry
	Actions bool
	CSRF    string
	Refresh int // the overview script's interval in milliseconds; 0: off
	Data    any
	Flash   string // the outcome of the action that led here
}

// render writes the page name with data, or a 500 when it fails.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	v := view{Prefix: prefix(r), Title: title, Nav: name, Actions: h.cfg.Actions, Data: data,
		Flash: h.flash(r)}
	if h.cfg.RefreshInterval > 0 {
		v.Refresh = int(h.cfg.RefreshInterval / time.Millisecond)
	}
	if h.cfg.Actions {
		v.CSRF = h.csrfToken(w, r)
	}
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, v); err != nil {
		h.fail(w, r, "render "+name, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// fail logs err and answers a 500 that does not repeat it: a database error
// can name tables, hosts or users.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.errorLog().ErrorContext(r.Context(), "qg/web: "+what, "path", r.URL.Path, "error", err)
	http.Error(w, "internal error: "+what+" failed (see the server's log)", http.StatusInternalServerError)
}

// age writes a duration the way an operator reads it: 3s, 4m12s, 2h5m, 3d4h.
func age(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	case d > 100*365*24*time.Hour:
		return "forever"
	}
	return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
}

// when writes a time in UTC to the second, and how far it is from now.
func when(t time.Time) string {
	switch {
	case t.IsZero():
		return "–"
	case t.Equal(qg.Infinity):
		return "infinity (never due)"
	case t.Equal(qg.NegativeInfinity):
		return "-infinity (always due)"
	}
	if t.Year() > 9999 || t.Year() < 1 {
		return t.UTC().Format(time.RFC3339) // an infinite run_at
	}
	d := time.Until(t)
	rel := "in " + age(d)
	if d < 0 {
		rel = age(-d) + " ago"
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST") + " (" + rel + ")"
}

// pretty indents JSON for reading; what is not JSON comes back as it is.
// Numbers keep their digits (json.Indent never parses them).
func pretty(raw []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// flashQuery is the query that carries an action's outcome to the page it
// redirects to, signed so that a link from elsewhere cannot put words on
// the page.
func (h *Handler) flashQuery(msg string) string {
	return url.Values{"done": {msg}, "sig": {h.sign("flash:" + msg)}}.Encode()
}

// flash is the outcome the request's query carries, if its signature holds.
func (h *Handler) flash(r *http.Request) string {
	q := r.URL.Query()
	msg := q.Get("done")
	if msg == "" || !hmac.Equal([]byte(q.Get("sig")), []byte(h.sign("flash:"+msg))) {
		return ""
	}
	return msg
}
