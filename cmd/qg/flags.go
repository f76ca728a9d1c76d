package main

import (
	"context"
	"errors"
	"flag"
	"io"
)

// options are the flags every command takes.
type options struct {
	databaseURL string // --database-url; DATABASE_URL when empty
	json        bool   // --json: print JSON instead of tables
	operand     string // the command's one argument, if it takes one
}

// runner does a command's work once its flags are parsed.
type runner func(ctx context.Context, e *env, opts *options) error

// execute parses a command's flags and runs it. `-h` prints the command's
// usage on stdout and returns errHelpShown; a bad flag or a stray argument
// is a usageError.
func (c *command) execute(ctx context.Context, e *env, args []string) error {
	fs, opts := newFlagSet(c.name)
	do := c.setup(fs)
	var operands []string
	for { // flags may come before and after the operand: qg job 7 --json
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printCommandUsage(e.stdout, c, fs)
				return errHelpShown
			}
			return &usageError{err: err}
		}
		if fs.NArg() == 0 {
			break
		}
		operands = append(operands, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case c.operand == "" && len(operands) > 0:
		return usagef("unexpected argument %q (this command takes only flags)", operands[0])
	case c.operand != "" && len(operands) != 1:
		return usagef("want one %s, got %d arguments", c.operand, len(operands))
	case c.operand != "":
		opts.operand = operands[0]
	}
	return do(ctx, e, opts)
}

// newFlagSet returns a silent flag set for the command called name, with the
// flags every command takes already defined.
func newFlagSet(name string) (*flag.FlagSet, *options) {
	fs := flag.NewFlagSet("qg "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // qg prints errors and usage itself
	fs.Usage = func() {}
	opts := &options{}
	fs.StringVar(&opts.databaseURL, "database-url", "",
		"PostgreSQL `URL` (postgres://user:password@host:port/database?sslmode=disable)\nor key=value DSN; default: the environment variable DATABASE_URL")
	fs.BoolVar(&opts.json, "json", false, "print JSON for scripts instead of tables")
	return fs, opts
}

// isSet reports whether the flag called name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
