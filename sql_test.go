package qg

import "testing"

// PostgreSQL cuts prepared statement names to 63 bytes, and
// PrepareStatements names each statement by its text: the first 63 bytes of
// every statement must differ, or one would run in place of another.
func TestStatementNamesDistinctIn63Bytes(t *testing.T) {
	for version, d := range dialects {
		seen := map[string]bool{}
		for _, s := range append(d.statements(), unlockJob, unlockJobs) {
			name := s[:min(len(s), 63)]
			if seen[name] {
				t.Errorf("version %s: two statements share the name %q", version, name)
			}
			seen[name] = true
		}
	}
}
