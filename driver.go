package qg

import (
	"time"

	"github.com/jackc/pgtype"
)

// A Client on a *sql.DB of another driver than pgx v4's stdlib (lib/pq,
// pgx v5's stdlib) works through database/sql alone: what qg pipelines in
// one round trip on pgx v4 (the walk with BEGIN and the re-check; the
// delete, COMMIT and unlock) goes a statement at a time, a released
// connection's idleness is asked of the server, sessions are ended from a
// pool connection, and there is no LISTEN connection (Listen and cancel
// notifications: polling only) nor batch locking.

// portable returns args as every database/sql driver takes them: each
// slice becomes the text of a PostgreSQL array, which the statements cast
// ($1::text[]). lib/pq takes no Go slice; pgx's drivers take both, so a
// Client on pgx v4 passes args through untouched.
func (c *Client) portable(args []any) []any {
	if c.otherDriver == "" {
		return args
	}
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = arrayText(a)
	}
	return out
}

// textEncoder is a pgtype array that can be filled and written as text.
type textEncoder interface {
	Set(src any) error
	EncodeText(ci *pgtype.ConnInfo, buf []byte) ([]byte, error)
}

// arrayText writes a slice as a PostgreSQL array literal (quoted as
// PostgreSQL reads it back, timestamps in any era); anything else is
// returned as it is.
func arrayText(a any) any {
	var enc textEncoder
	switch a.(type) {
	case []string:
		enc = &pgtype.TextArray{}
	case []int64:
		enc = &pgtype.Int8Array{}
	case []int32:
		enc = &pgtype.Int4Array{}
	case []int16:
		enc = &pgtype.Int2Array{}
	case []bool:
		enc = &pgtype.BoolArray{}
	case []float64:
		enc = &pgtype.Float8Array{}
	case []time.Time:
		enc = &pgtype.TimestamptzArray{}
	default:
		return a
	}
	if err := enc.Set(a); err != nil {
		return a // the driver says what is wrong with it
	}
	b, err := enc.EncodeText(pgtype.NewConnInfo(), nil)
	if err != nil {
		return a
	}
	return string(b)
}
