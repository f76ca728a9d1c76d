package browsertest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/internal/pgtest"
	"github.com/qg-go/qg/web"
)

// testDB is a pool on the database created for this test run (a Que 0.x
// table), que2DB one on its Ruby Que 2.x twin (schema 7).
var testDB, que2DB *sql.DB

// TestMain creates fresh databases, one of each table generation, runs the
// tests and drops them.
func TestMain(m *testing.M) {
	db, _, drop, err := pgtest.OpenMigrated("qg_browser_test2", qg.MigrateQue2)
	if err != nil {
		fmt.Fprint(os.Stderr, pgtest.Unreachable(err, "make test-browser"))
		os.Exit(1)
	}
	que2DB = db
	code := pgtest.RunMigrated(m, "qg_browser_test", qg.Migrate, &testDB)
	drop()
	os.Exit(code)
}

// secret is the token the actions server's Authorize hook asks for.
const secret = "browser-test-secret"

// serve serves a dashboard of testDB with cfg on a free loopback port until
// the test ends and returns its base URL (the handler mounted under /qg).
func serve(t *testing.T, cfg web.Config) string {
	t.Helper()
	return serveOn(t, testDB, cfg)
}

// serveOn is serve on db.
func serveOn(t *testing.T, db *sql.DB, cfg web.Config) string {
	t.Helper()
	c, err := qg.NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h, err := web.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/qg/", http.StripPrefix("/qg", h))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/qg"
}

// authorize accepts the requests that carry the secret as bearer token.
func authorize(r *http.Request) error {
	if r.Header.Get("Authorization") != "Bearer "+secret {
		return errors.New("no token")
	}
	return nil
}

// chromium finds Debian's chromium, failing the test with what to install.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: apt-get install chromium (.ci/run installs it)")
	return ""
}

// browse starts a headless chromium with a fresh profile for the test and
// returns its context; it ends with the test.
func browse(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshotDir is where the screenshots go: QG_SCREENSHOT_DIR, else
// screenshots/ beside this file.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("QG_SCREENSHOT_DIR")
	if dir == "" {
		dir = "screenshots"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the whole page as name.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
