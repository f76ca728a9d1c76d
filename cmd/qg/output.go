package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/qg-go/qg"
)

// writeJSON writes v as indented JSON, for --json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// writeJSONLine writes v as JSON on one line, for a stream of results.
func writeJSONLine(w io.Writer, v any) error {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// writeTable writes rows under header in aligned columns.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// cell is s as a table shows it: quoted when it holds a tab, a newline or
// another character that would break the columns, "-" when empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return shown(s)
}

// shown is s as qg prints it on a terminal: as is when every character is
// printable, quoted with Go's escapes otherwise, so no control character
// or escape sequence of a job's class, queue or error reaches the terminal.
func shown(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// queueLabel is how a table shows a queue: the default queue, whose name is
// the empty string, as (default).
func queueLabel(q string) string {
	if q == "" {
		return "(default)"
	}
	return q
}

// timestamp is a time that JSON writes as RFC 3339 in UTC, or as
// "infinity" and "-infinity" for PostgreSQL's infinite timestamps.
type timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(formatTime(time.Time(t)))
}

// formatTime is t in RFC 3339 and UTC, or PostgreSQL's name of an infinity.
func formatTime(t time.Time) string {
	switch {
	case t.Equal(qg.Infinity):
		return "infinity"
	case t.Equal(qg.NegativeInfinity):
		return "-infinity"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// humanTime is t to the second, with how far it is from now.
func humanTime(t, now time.Time) string {
	if t.Equal(qg.Infinity) || t.Equal(qg.NegativeInfinity) {
		return formatTime(t)
	}
	s := t.UTC().Format(time.RFC3339)
	switch d := t.Sub(now).Round(time.Second); {
	case d > 0:
		return s + " (in " + d.String() + ")"
	case d < 0:
		return s + " (" + (-d).String() + " ago)"
	}
	return s + " (now)"
}

// age is how long ago t was, to the second; "-" for an unknown time.
func age(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return max(now.Sub(*t), 0).Round(time.Second).String()
}

// plural is "n word" with an s when n is not 1.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// textPrinter is a command's result, which prints itself for people.
type textPrinter interface {
	printText(w io.Writer) error
}

// render writes res as JSON with --json, as text otherwise.
func render(e *env, opts *options, res textPrinter) error {
	if opts.json {
		return writeJSON(e.stdout, res)
	}
	return res.printText(e.stdout)
}

// printText says what migrate did.
func (res migrateResult) printText(w io.Writer) error {
	what := "que_jobs (Que schema version 3) was there already"
	if res.Created {
		what = "created que_jobs (Que schema version 3)"
	}
	_, err := fmt.Fprintf(w, "%s; qg's side tables are up to date\n", what)
	return err
}

// printText says which job enqueue inserted.
func (res *enqueueResult) printText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "enqueued job %d: %s in queue %s, priority %d, run at %s\n",
		res.JobID, shown(res.JobClass), shown(queueLabel(res.Queue)), res.Priority, formatTime(time.Time(res.RunAt)))
	return err
}

// printText says how many archived jobs prune deleted.
func (res *pruneResult) printText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "deleted %s finished more than %s ago\n",
		plural(int(res.Deleted), "archived job"), res.OlderThan)
	return err
}

// printText writes the counts table and the working table.
func (res *statsResult) printText(w io.Writer) error {
	now := time.Time(res.Now)
	if len(res.Queues) == 0 {
		fmt.Fprintln(w, "que_jobs is empty.")
	} else if err := writeTable(w, queueHeader, queueRows(res.Queues, now)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if t := res.Table; t != nil {
		fmt.Fprintf(w, "Ruby Que 2.x table, besides: %s finished, %s expired (qg retry runs one again), "+
			"%s of another job_schema_version (%d ready; Que 2 and qg leave them alone).\n\n",
			plural(t.Finished, "job"), plural(t.Expired, "job"), plural(t.OtherVersion, "job"), t.OtherVersionReady)
	}
	if len(res.Working) == 0 {
		_, err := fmt.Fprintln(w, "No job is being worked.")
		return err
	}
	fmt.Fprintf(w, "Working: %s locked by a worker (a lock is at most as old as its SESSION AGE).\n",
		plural(len(res.Working), "job"))
	return writeTable(w, workingHeader, workingRows(res.Working, now))
}

var queueHeader = []string{"QUEUE", "JOB CLASS", "JOBS", "WORKING", "ERRORED", "MAX ERRORS", "OLDEST RUN AT"}

// queueRows are the rows of the counts table.
func queueRows(stats []queueStats, now time.Time) [][]string {
	rows := make([][]string, 0, len(stats))
	for _, s := range stats {
		rows = append(rows, []string{queueLabel(s.Queue), s.JobClass, strconv.Itoa(s.Count),
			strconv.Itoa(s.CountWorking), strconv.Itoa(s.CountErrored),
			strconv.Itoa(s.HighestErrorCount), humanTime(time.Time(s.OldestRunAt), now)})
	}
	return rows
}

var workingHeader = []string{"JOB ID", "QUEUE", "JOB CLASS", "ERRORS", "PID", "APPLICATION",
	"CLIENT", "USER", "SESSION AGE", "STATE", "QUERY AGE"}

// workingRows are the rows of the working table.
func workingRows(jobs []workingJob, now time.Time) [][]string {
	rows := make([][]string, 0, len(jobs))
	for _, w := range jobs {
		rows = append(rows, []string{strconv.FormatInt(w.JobID, 10), queueLabel(w.Queue),
			w.JobClass, strconv.Itoa(w.ErrorCount), strconv.Itoa(w.PID), deref(w.ApplicationName),
			client(w), deref(w.User), age(w.BackendStart, now), deref(w.State), age(w.QueryStart, now)})
	}
	return rows
}

// client is a session's client address and port, "local" for a Unix socket,
// "-" when unknown.
func client(w workingJob) string {
	switch {
	case w.ClientAddr != nil && w.ClientPort != nil:
		return net.JoinHostPort(*w.ClientAddr, strconv.Itoa(*w.ClientPort))
	case w.ClientAddr != nil:
		return *w.ClientAddr
	case w.ClientPort == nil && w.BackendStart != nil:
		return "local"
	}
	return "-"
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var retryHeader = []string{"JOB ID", "JOB CLASS", "FROM QUEUE", "QUEUE NOW", "ERRORS", "LAST ERROR", "RESULT"}

// printText writes what retry did with each job, and a summary.
func (res *retryResult) printText(w io.Writer) error {
	if len(res.Jobs) == 0 {
		_, err := fmt.Fprintf(w, "Nothing to retry in queue %s.\n", shown(queueLabel(res.target)))
		return err
	}
	rows := make([][]string, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		rows = append(rows, []string{strconv.FormatInt(j.JobID, 10), j.JobClass, queueLabel(j.FromQueue),
			queueLabel(j.Queue), strconv.Itoa(j.ErrorCount), firstLine(deref(j.LastError), 50), j.Result})
	}
	if err := writeTable(w, retryHeader, rows); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nRetried %s", plural(res.Retried, "job"))
	if res.Skipped > 0 {
		fmt.Fprintf(w, "; skipped %s (locked: being worked; changed: finished or rescheduled meanwhile)",
			plural(res.Skipped, "job"))
	}
	_, err := fmt.Fprintln(w, ".")
	return err
}

// firstLine is the first line of s, cut to n runes.
func firstLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if cut {
		return s + " …"
	}
	return s
}
