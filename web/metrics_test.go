package web

import (
	"bytes"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// TestMetricsPassPromtool scrapes /metrics with hostile label values and
// checks the text with Prometheus' own linter, promtool (Debian's
// prometheus package; .ci/run installs it).
func TestMetricsPassPromtool(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup(t, Config{})
	weird := queue + "\"\\\n{x}"
	enqueue(t, c, &qg.Job{Queue: weird, Type: `Evil"Class\`, RunAt: time.Now().Add(-time.Minute)})
	enqueue(t, c, &qg.Job{Queue: qg.DeadQueue(queue), Type: "Dead"})
	code, body := get(t, nil, srv, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	promtoolCheck(t, body)
	wantLine := `qg_jobs{queue="` + queue + `\"\\\n{x}",job_class="Evil\"Class\\",state="ready"} 1`
	if !strings.Contains(body, wantLine+"\n") {
		t.Errorf("no line %s in\n%s", wantLine, body)
	}
	if !strings.Contains(body, `qg_jobs_given_up{queue="`+queue+`"} 1`) {
		t.Errorf("the given-up job is not counted under its queue:\n%s", body)
	}
	age := regexp.MustCompile(`qg_oldest_ready_job_age_seconds\{queue="` + regexp.QuoteMeta(queue) + `\\"\\\\\\n\{x\}"\} ([0-9.e+]+)`).FindStringSubmatch(body)
	if age == nil || parseFloat(age[1]) < 59 {
		t.Errorf("oldest ready age of the weird queue: %v", age)
	}
	for _, name := range []string{"qg_jobs_locked ", "qg_scrape_duration_seconds ", "qg_jobs_failing{", "qg_jobs_expired{"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("no %s sample", name)
		}
	}
}

// promtoolCheck fails t unless promtool finds body good metrics text.
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (apt-get install prometheus; .ci/run does it)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out.String(), body)
	}
}

// parseFloat reads a sample value, NaN when it is none.
func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}
