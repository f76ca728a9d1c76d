package main

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// redacted replaces a secret in a message.
const redacted = "xxxxx"

// secretKeys are the connection parameters whose values are secrets, in a
// URL's query and in a key=value DSN.
var secretKeys = map[string]bool{"password": true, "sslpassword": true}

// redactSecrets returns msg with every secret that raw, a database URL or
// DSN, carries replaced by xxxxx: the user info's password and the values
// of password= and sslpassword=, in each spelling raw may give them (as
// written, percent-decoded, unquoted). It never needs raw to be valid.
func redactSecrets(raw, msg string) string {
	secrets := urlSecrets(raw)
	secrets = append(secrets, dsnSecrets(raw)...)
	// The longest first, so that a secret inside another is not left half.
	sort.Slice(secrets, func(a, b int) bool { return len(secrets[a]) > len(secrets[b]) })
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	return msg
}

// userInfoPassword finds the password of a URL's user info even when the
// rest of the URL does not parse.
var userInfoPassword = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@]*?:([^/?#@]*)@`)

// queryParam finds key=value pairs of a URL's query.
var queryParam = regexp.MustCompile(`[?&]([^=&#]*)=([^&#]*)`)

// urlSecrets lists the secrets of raw read as a URL, both as written and
// percent-decoded.
func urlSecrets(raw string) []string {
	var out []string
	add := func(s string) {
		out = append(out, s)
		if d, err := url.QueryUnescape(s); err == nil {
			out = append(out, d)
		}
		if d, err := url.PathUnescape(s); err == nil {
			out = append(out, d)
		}
	}
	if m := userInfoPassword.FindStringSubmatch(raw); m != nil {
		add(m[1])
	}
	for _, m := range queryParam.FindAllStringSubmatch(raw, -1) {
		key, err := url.QueryUnescape(m[1])
		if err != nil {
			key = m[1]
		}
		if secretKeys[key] {
			add(m[2])
		}
	}
	return out
}

// dsnSecrets lists the secrets of raw read as a libpq key=value string:
// keys and values separated by "=" with optional spaces around it, a value
// either bare (up to the next space) or single-quoted with backslash
// escapes. Each is listed as written and unquoted.
func dsnSecrets(raw string) []string {
	var out []string
	s := raw
	for s != "" {
		s = strings.TrimLeft(s, " \t\n\r\f\v")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return out
		}
		key := strings.TrimSpace(s[:eq])
		if i := strings.LastIndexAny(key, " \t\n\r\f\v"); i >= 0 {
			key = key[i+1:] // a malformed pair before it: take the last word
		}
		s = strings.TrimLeft(s[eq+1:], " \t\n\r\f\v")
		value, written, rest := dsnValue(s)
		if secretKeys[key] {
			out = append(out, written, value)
		}
		s = rest
	}
	return out
}

// dsnValue reads one value at the start of s: its unquoted value, the text
// as written, and what follows it.
func dsnValue(s string) (value, written, rest string) {
	if !strings.HasPrefix(s, "'") {
		end := strings.IndexAny(s, " \t\n\r\f\v")
		if end < 0 {
			end = len(s)
		}
		return s[:end], s[:end], s[end:]
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '\'':
			return b.String(), s[:i+1], s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), s, "" // no closing quote: the rest is the value
}
