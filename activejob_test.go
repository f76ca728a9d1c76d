package qg

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// railsRow is the args of a job as Rails 7.1's ActiveJob writes it through
// Que's adapter: ActiveJob::Base#serialize as the one element of args.
// Arguments in ActiveJob's serialization: a Hash keeps "_aj_symbol_keys".
const railsRow = `[{"job_class": "WelcomeEmailJob", "job_id": "8a3c6f3e-9d0b-4a7e-b3c1-0c5d2f1e4a77",
  "provider_job_id": null, "queue_name": "%s", "priority": null,
  "arguments": [42, "welcome", {"plan": "pro", "_aj_symbol_keys": ["plan"]}],
  "executions": 0, "exception_executions": {}, "locale": "en", "timezone": "UTC",
  "enqueued_at": "2026-11-22T10:00:00.123456789Z"}]`

// activeJobWork records what the WorkFunc of WelcomeEmailJob read.
type activeJobWork struct {
	userID json.Number
	kind   string
	opts   map[string]any
	class  string
}

// TestActiveJobRoutesToWrappedClass checks, on both table generations,
// that a job Rails enqueued runs the WorkFunc of the wrapped class, which
// reads its arguments, and that a Job from NewActiveJob is stored as Rails
// stores one.
func TestActiveJobRoutesToWrappedClass(t *testing.T) {
	for _, gen := range []string{"0.x", "2.x"} {
		t.Run(gen, func(t *testing.T) {
			c, queue := setup(t)
			insert := `INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, $2, $3::json)`
			if gen == "2.x" {
				c, queue = setup2(t)
				insert = `INSERT INTO que_jobs (queue, job_class, args, job_schema_version) VALUES ($1, $2, $3, 2)`
			}
			got := make(chan activeJobWork, 2)
			w := NewWorker(c, WorkMap{"WelcomeEmailJob": func(j *Job) error {
				d, err := j.ActiveJob()
				if err != nil {
					return err
				}
				var a activeJobWork
				if err := d.DecodeArguments(&a.userID, &a.kind, &a.opts); err != nil {
					return err
				}
				a.class = d.JobClass
				got <- a
				return nil
			}})
			w.Queue = queue
			if _, err := c.pool.Exec(insert, queue, ActiveJobWrapper, fmt.Sprintf(railsRow, queue)); err != nil {
				t.Fatal(err)
			}
			mine, err := NewActiveJob("WelcomeEmailJob", queue, 5, 42, "welcome", map[string]any{"plan": "pro"})
			if err != nil {
				t.Fatal(err)
			}
			enqueue(t, c, mine)
			for range 2 {
				if !w.WorkOne() {
					t.Fatal("no job worked")
				}
				a := <-got
				if a.userID.String() != "42" || a.kind != "welcome" || a.opts["plan"] != "pro" || a.class != "WelcomeEmailJob" {
					t.Errorf("WorkFunc read %+v", a)
				}
			}
			checkActiveJobData(t, mine, queue)
		})
	}
}

// checkActiveJobData compares the data of a Job from NewActiveJob with
// what Rails writes: the same keys, the wrapped class, a UUID, a priority.
func checkActiveJobData(t *testing.T, j *Job, queue string) {
	t.Helper()
	var stored []map[string]json.RawMessage
	if err := json.Unmarshal(j.Args, &stored); err != nil || len(stored) != 1 {
		t.Fatalf("NewActiveJob args %s: %v", j.Args, err)
	}
	var rails []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(fmt.Sprintf(railsRow, queue)), &rails); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]json.RawMessage) string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		return strings.Join(k, ",")
	}
	if keys(stored[0]) != keys(rails[0]) {
		t.Errorf("NewActiveJob keys %s, Rails writes %s", keys(stored[0]), keys(rails[0]))
	}
	uuid := regexp.MustCompile(`^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$`)
	if !uuid.Match(stored[0]["job_id"]) || string(stored[0]["priority"]) != "5" ||
		string(stored[0]["queue_name"]) != `"`+queue+`"` || j.Type != ActiveJobWrapper {
		t.Errorf("NewActiveJob data %s", j.Args)
	}
}

// TestActiveJobNotAWrapper checks that ActiveJob refuses other jobs.
func TestActiveJobNotAWrapper(t *testing.T) {
	for _, j := range []*Job{{Type: "SendEmail", Args: []byte(`[{"job_class": "X"}]`)},
		{Type: ActiveJobWrapper, Args: []byte(`[]`)}, {Type: ActiveJobWrapper, Args: []byte(`[{"arguments": []}]`)}} {
		if _, err := j.ActiveJob(); !errors.Is(err, ErrNotActiveJob) {
			t.Errorf("%s %s: %v, want ErrNotActiveJob", j.Type, j.Args, err)
		}
	}
}
