package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
)

// csrfCookie is the cookie holding the browser's random CSRF seed; the
// forms carry its HMAC under the handler's key, so a page of another site
// can neither read the token nor make one.
const csrfCookie = "qg_csrf"

// errCSRF refuses a POST without the token of a page this handler served.
var errCSRF = errors.New("missing or stale CSRF token: reload the page and try again")

// errCrossSite refuses a POST that the browser says came from another site.
var errCrossSite = errors.New("cross-site request refused")

// csrfToken returns the token for the page's forms, setting the seed
// cookie when the browser has none yet.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	seed := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		seed = c.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		seed = hex.EncodeToString(b)
		path := prefix(r) + "/"
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: seed, Path: path,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	}
	return h.sign(seed)
}

// sign is the HMAC of seed under the handler's key, in hex.
func (h *Handler) sign(seed string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(seed))
	return hex.EncodeToString(m.Sum(nil))
}

// checkCSRF accepts a POST whose form token matches its seed cookie and
// that the browser does not mark as cross-site.
func (h *Handler) checkCSRF(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errCrossSite
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) != 32 {
		return errCSRF
	}
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(h.sign(c.Value))) {
		return errCSRF
	}
	return nil
}
