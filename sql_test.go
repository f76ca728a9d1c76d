package qg

import "testing"

// PostgreSQL cuts prepared statement names to 63 bytes, and
// PrepareStatements names each statement by its text: the first 63 bytes of
// every statement must differ, or one would run in place of another.
func TestStatementNamesDistinctIn63Bytes(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range que0.statements() {
		name := s[:min(len(s), 63)]
		if seen[name] {
			t.Errorf("two statements share the name %q", name)
		}
		seen[name] = true
	}
}
