package main

import (
	"strings"
	"testing"
)

// TestBadURLNeverShowsPassword gives every command a database URL or DSN
// that carries a secret in each place libpq and pgx accept one, with a bad
// sslmode so that parsing fails after the secret was read: no message may
// repeat it.
func TestBadURLNeverShowsPassword(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"postgres://postgres:s3cret@127.0.0.1/db?sslmode=bogus",
		"postgres://postgres@127.0.0.1/db?password=s3cret&sslmode=bogus",
		"postgres://postgres@127.0.0.1/db?sslmode=bogus&password=s3cret",
		"postgresql://postgres@127.0.0.1/db?sslpassword=s3cret&sslmode=bogus",
		"postgres://postgres@127.0.0.1/db?password=s3%63ret&sslmode=bogus",
		"postgres://postgres:s3%63ret@127.0.0.1/db?sslmode=bogus",
		"host=127.0.0.1 password=s3cret sslmode=bogus",
		"host=127.0.0.1 password = s3cret sslmode=bogus",
		"host=127.0.0.1 password='s3cret' sslmode=bogus",
		"host=127.0.0.1 password = 's3 cret' sslmode=bogus",
		"host=127.0.0.1 sslpassword=s3cret sslmode=bogus",
		"host=127.0.0.1 sslpassword='s3\\'cret' sslmode=bogus",
	} {
		for _, args := range everyCommand {
			r := qgEnv(t, nil, append(args, "--database-url", bad)...)
			r.want(t, exitUsage, "bad database URL")
			for _, secret := range []string{"s3cret", "s3%63ret", "s3 cret", "s3\\'cret", "s3'cret"} {
				if strings.Contains(r.stderr+r.stdout, secret) {
					t.Errorf("qg %v with %q: the message shows the password: %s", args, bad, r.stderr)
				}
			}
		}
	}
}

// TestRedactSecrets checks the redaction on its own, on forms that fail in
// other ways too.
func TestRedactSecrets(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ raw, msg string }{
		{"postgres://u:pw1@h:notaport/db", "cannot parse `postgres://u:pw1@h:notaport/db`: pw1"},
		{"postgres://u@h/db?password=pw1&x=1", "password=pw1 pw1"},
		{"password=pw1 host=h", "`password=pw1 host=h` pw1"},
		{"password='pw 1' host=h", "`password='pw 1' host=h` pw 1"},
	} {
		got := redactSecrets(c.raw, c.msg)
		if strings.Contains(got, "pw1") || strings.Contains(got, "pw 1") {
			t.Errorf("redactSecrets(%q, %q) = %q", c.raw, c.msg, got)
		}
	}
}
