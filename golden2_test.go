package qg

import "encoding/json"

// The lines of testdata/ruby-que-2.4.1/*.jsonl, field by field (see its
// README). readGoldenFile refuses a field not declared here.

// goldenEnqueued2 is a line of enqueued.jsonl: a row Que 2's enqueue wrote,
// or an enqueue that raised.
type goldenEnqueued2 struct {
	Ruby             string `json:"ruby"`
	BulkIndex        *int   `json:"bulk_index"`
	IDType           string `json:"id_type"`
	Queue            string `json:"queue"`
	Priority         int16  `json:"priority"`
	JobClass         string `json:"job_class"`
	Args             string `json:"args"`
	Kwargs           string `json:"kwargs"`
	Data             string `json:"data"`
	JobSchemaVersion int    `json:"job_schema_version"`
	ErrorCount       int32  `json:"error_count"`
	RunAtFromNowS    int    `json:"run_at_from_now_s"`
	EnqueueError     string `json:"enqueue_error"`
	RowWritten       *bool  `json:"row_written"`
	RowsInTable      *int   `json:"rows_in_table"`
}

// goldenWorked2 is a line of worked.jsonl: a raw row and what Que 2's
// locker and worker did with it, or a plain INSERT and whether the table
// took it.
type goldenWorked2 struct {
	JobClass                    string   `json:"job_class"`
	Args                        string   `json:"args"`
	Kwargs                      string   `json:"kwargs"`
	Data                        string   `json:"data"`
	JobSchemaVersion            int      `json:"job_schema_version"`
	Outcome                     string   `json:"outcome"`
	RunCalled                   bool     `json:"run_called"`
	RunArgs                     string   `json:"run_args"`
	RunArgsClasses              []string `json:"run_args_classes"`
	RunKwargs                   string   `json:"run_kwargs"`
	RunKwargsKeyClasses         []string `json:"run_kwargs_key_classes"`
	QueAttrsData                string   `json:"que_attrs_data"`
	RowLeft                     bool     `json:"row_left"`
	ErrorCount                  int32    `json:"error_count"`
	LastErrorMessage            *string  `json:"last_error_message"`
	LastErrorBacktraceFirstLine *string  `json:"last_error_backtrace_first_line"`
	FinishedAtSet               bool     `json:"finished_at_set"`
	ExpiredAtSet                bool     `json:"expired_at_set"`
	RunAtMinusInsertS           float64  `json:"run_at_minus_insert_s"`

	Insert           string `json:"insert"`
	Accepted         bool   `json:"accepted"`
	SQLState         string `json:"sqlstate"`
	Constraint       string `json:"constraint"`
	Column           string `json:"column"`
	StoredQueue      string `json:"stored_queue"`
	StoredPriority   *int   `json:"stored_priority"`
	StoredErrorCount *int   `json:"stored_error_count"`
}

// goldenFailed2 is a line of failed.jsonl: a job whose run raised (or
// resolved itself inside run), after its failures-th time.
type goldenFailed2 struct {
	Job                         string   `json:"job"`
	Note                        string   `json:"note"`
	Failures                    int      `json:"failures"`
	ErrorCount                  int32    `json:"error_count"`
	LastErrorMessage            *string  `json:"last_error_message"`
	MessageChars                *int     `json:"message_chars"`
	MessageBytes                *int     `json:"message_bytes"`
	LastErrorBacktrace          *string  `json:"last_error_backtrace"`
	LastErrorBacktraceFirstLine *string  `json:"last_error_backtrace_first_line"`
	BacktraceChars              *int     `json:"backtrace_chars"`
	BacktraceLineCount          *int     `json:"backtrace_line_count"`
	BacktraceEndsWithNewline    *bool    `json:"backtrace_ends_with_newline"`
	ExpiredAtSet                bool     `json:"expired_at_set"`
	FinishedAtSet               bool     `json:"finished_at_set"`
	RunAtMinusFailureS          *float64 `json:"run_at_minus_failure_s"`
	ExpiredAtMinusFailureS      *float64 `json:"expired_at_minus_failure_s"`
	WorkedAgain                 *bool    `json:"worked_again"`
	RunCalled                   *bool    `json:"run_called"`
	RowLeft                     *bool    `json:"row_left"`
	RunAtMinusEnqueueS          *float64 `json:"run_at_minus_enqueue_s"`
}

// goldenNotify2 is a line of notify.jsonl: one notification a step caused,
// or a step that caused none (Notifications 0).
type goldenNotify2 struct {
	Step          string                     `json:"step"`
	Channel       string                     `json:"channel"`
	PayloadKeys   []string                   `json:"payload_keys"`
	Payload       map[string]json.RawMessage `json:"payload"`
	Notifications *int                       `json:"notifications"`
}
