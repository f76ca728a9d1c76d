// Package browsertest drives a real headless Chromium against the qg web
// dashboard, served by the real handler on a real PostgreSQL database. It
// is a module of its own so that its browser dependency (chromedp) never
// reaches qg's go.mod. Its tests save a screenshot of each page under
// screenshots/ (QG_SCREENSHOT_DIR overrides it), which CI keeps as an
// artifact.
package browsertest
