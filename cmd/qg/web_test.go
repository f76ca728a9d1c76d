package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWeb runs qg web with args and env until the test ends, and returns
// the URL it prints and its stderr.
func startWeb(t *testing.T, vars map[string]string, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	e := &env{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return vars[k] }}
	done := make(chan error, 1)
	go func() { done <- webCommand.execute(ctx, e, args) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("qg web returned %v", err)
		}
	})
	url := regexp.MustCompile(`serving (http://\S+)`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if m := url.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], &stderr
		}
		select {
		case err := <-done:
			t.Fatalf("qg web ended: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("qg web printed no URL:\n%s\n%s", stdout.String(), stderr.String())
	return "", nil
}

// status GETs url with the Authorization header auth (none when empty).
func status(t *testing.T, url, auth string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestWebActionsNeedASecret checks that --actions refuses to start without
// a long enough secret.
func TestWebActionsNeedASecret(t *testing.T) {
	t.Parallel()
	qgRun(t, "web", "--actions", "--addr", "127.0.0.1:0").want(t, exitUsage, "needs a secret", "QG_WEB_SECRET")
	qgEnv(t, map[string]string{"DATABASE_URL": testURL, "QG_WEB_SECRET": "short"},
		"web", "--actions", "--addr", "127.0.0.1:0").want(t, exitUsage, "at least 12")
}

// TestWebServesWithTheSecret starts qg web with actions and a secret and
// checks that every page asks for it, and accepts it as basic auth password
// or bearer token, and that neither it nor the database URL is printed.
func TestWebServesWithTheSecret(t *testing.T) {
	t.Parallel()
	secret := "s3cret-" + testQueue(t)
	url, stderr := startWeb(t, map[string]string{"DATABASE_URL": testURL, "QG_WEB_SECRET": secret},
		"--addr", "127.0.0.1:0", "--actions")
	if status(t, url, "") != http.StatusUnauthorized || status(t, url+"metrics", "Bearer wrong") != http.StatusUnauthorized {
		t.Error("a request without the secret was served")
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("anyone", secret)
	if status(t, url, req.Header.Get("Authorization")) != http.StatusOK {
		t.Error("basic auth with the secret was refused")
	}
	if status(t, url+"metrics", "Bearer "+secret) != http.StatusOK {
		t.Error("the bearer token was refused")
	}
	if s := stderr.String(); strings.Contains(s, secret) || strings.Contains(s, testURL) {
		t.Errorf("stderr shows the secret or the database URL:\n%s", s)
	}
}

// TestWebWarnsBeyondLoopback checks the warning of a server bound beyond
// loopback with no secret, and its silence on loopback.
func TestWebWarnsBeyondLoopback(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"DATABASE_URL": testURL}
	if _, stderr := startWeb(t, vars, "--addr", "127.0.0.1:0"); strings.Contains(stderr.String(), "warning") {
		t.Errorf("a loopback server warned:\n%s", stderr.String())
	}
	_, stderr := startWeb(t, vars, "--addr", "0.0.0.0:0")
	if !strings.Contains(stderr.String(), "beyond loopback, with no secret") {
		t.Errorf("no warning for a server on every interface:\n%s", stderr.String())
	}
}
