package qg

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxNameInError bounds how much of a queue name or job class an error
// message quotes, in bytes: a name of megabytes would otherwise give an
// error of megabytes.
const maxNameInError = 200

// quoted is s quoted for an error message (Go escapes, so control
// characters never reach a terminal raw), cut to maxNameInError bytes.
func quoted(s string) string {
	if len(s) <= maxNameInError {
		return fmt.Sprintf("%q", s)
	}
	cut := strings.ToValidUTF8(s[:maxNameInError], "")
	return fmt.Sprintf("%q… (%d bytes)", cut, len(s))
}

// checkText returns an error wrapping ErrInvalidText when s, the what of a
// job, cannot be stored in a text column.
func checkText(what, s string) error {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return nil
	}
	return fmt.Errorf("%w: job %s %s", ErrInvalidText, what, quoted(s))
}
