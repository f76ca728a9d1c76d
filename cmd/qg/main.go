// Command qg administers the jobs of a qg or Ruby Que 0.x que_jobs table:
// it creates the table, shows what is queued and who is working what, lists,
// shows and deletes jobs, enqueues a job, retries given-up and failing jobs,
// installs the opt-in triggers (notify, unique, archive), and prunes the
// archive of finished jobs.
//
// Install it with
//
//	go install github.com/qg-go/qg/cmd/qg@latest
//
// and run `qg help` for its commands, flags and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unicode"
)

// Exit codes, documented in the usage text.
const (
	exitOK      = 0 // the command did what it was asked
	exitRuntime = 1 // the database failed or refused, or a job was not found or being worked
	exitUsage   = 2 // bad command, flags, arguments or database URL
)

// command is one subcommand of qg.
type command struct {
	name     string
	summary  string                        // one line for `qg help`
	synopsis string                        // the usage line after "qg "
	usage    string                        // what the command does, for `qg <name> -h`
	setup    func(fs *flag.FlagSet) runner // defines the command's own flags
	// operand names the one argument the command takes besides its flags
	// (a job id, a queue), for messages; empty: it takes flags only.
	operand string
}

// env is what a command sees of the outside world.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// commands lists the subcommands in the order `qg help` shows them.
var commands = []*command{migrateCommand, statsCommand, jobsCommand, jobCommand, enqueueCommand,
	deleteCommand, retryCommand, snoozeCommand, cancelCommand, pauseCommand, resumeCommand,
	enableCommand, pruneCommand, webCommand}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run runs the qg command line args (without the program name) and returns
// the process's exit code. Interrupting it (SIGINT, SIGTERM) cancels the
// command's database work.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(e, rest)
	case "version", "-version", "--version":
		return runVersion(e)
	}
	cmd := findCommand(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "qg: unknown command %q; run 'qg help' for the list\n", name)
		return exitUsage
	}
	return report(e, cmd, cmd.execute(ctx, e, rest))
}

// findCommand returns the subcommand called name, or nil.
func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// runHelp prints the general usage, or that of the command named in args.
func runHelp(e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stdout)
		return exitOK
	}
	cmd := findCommand(args[0])
	if cmd == nil || len(args) > 1 {
		fmt.Fprintf(e.stderr, "qg: help: unknown command %q; run 'qg help' for the list\n", strings.Join(args, " "))
		return exitUsage
	}
	fs, _ := newFlagSet(cmd.name)
	cmd.setup(fs)
	printCommandUsage(e.stdout, cmd, fs)
	return exitOK
}

// report prints err, if any, and returns the exit code it stands for.
func report(e *env, cmd *command, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelpShown):
		return exitOK
	}
	fmt.Fprintf(e.stderr, "qg %s: %s\n", cmd.name, terminalText(cleanMessage(err)))
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintf(e.stderr, "Run 'qg %s -h' for usage.\n", cmd.name)
		return exitUsage
	}
	return exitRuntime
}

// cleanMessage is err's text without the "qg: " prefixes that each wrapping
// layer of the library adds.
func cleanMessage(err error) string {
	msg := strings.ReplaceAll(err.Error(), ": qg: ", ": ")
	return strings.TrimPrefix(msg, "qg: ")
}

// maxMessage bounds the error message qg prints, in bytes: a message that
// quotes a huge value (a queue name of megabytes) is cut.
const maxMessage = 4096

// terminalText is msg as it may reach a terminal: cut to maxMessage bytes,
// its control and other non-printing characters escaped as Go does
// (newlines and tabs kept), so no escape sequence from the database or a
// row is ever sent raw.
func terminalText(msg string) string {
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "") + "… (cut)"
	}
	var b strings.Builder
	for _, r := range msg {
		if r == '\n' || r == '\t' || unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// usageError marks an error as the caller's: bad flags, arguments or
// database URL. It makes qg exit with exitUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// errHelpShown says that a command's flags asked for help (-h), which is
// printed already: qg exits with exitOK.
var errHelpShown = errors.New("help shown")
