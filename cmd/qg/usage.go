package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageHeader opens `qg help`.
const usageHeader = `qg administers the jobs of a qg / Ruby Que 0.x que_jobs table in PostgreSQL.

Usage:
  qg <command> [flags]
  qg help [command]
  qg <command> -h

Commands:
`

// usageFooter closes `qg help`.
const usageFooter = `
Every command takes:
  --database-url URL   PostgreSQL URL or key=value DSN; default: $DATABASE_URL
  --json               print JSON on stdout for scripts instead of tables

Flags take one or two dashes (-json, --json). Errors go to stderr.
`

// exitCodesText documents the exit codes, in `qg help` and every `-h`.
const exitCodesText = `
Exit codes:
  0  success
  1  runtime error: the server is unreachable or failed, que_jobs is missing
     (run 'qg migrate') or of another Que version, a job was not found, or a
     job to retry was being worked (left untouched)
  2  usage error: unknown command, bad flag or argument (args JSON, --run-at,
     durations), a missing or unparsable database URL
`

// printUsage writes the general usage to w.
func printUsage(w io.Writer) {
	fmt.Fprint(w, usageHeader)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s  %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s  %s\n", "help", "show this help, or a command's: qg help <command>")
	fmt.Fprintf(w, "  %-8s  %s\n", "version", "print qg's version (also --version)")
	fmt.Fprint(w, usageFooter)
	fmt.Fprint(w, exitCodesText)
}

// printCommandUsage writes the usage of c, whose flags are in fs, to w.
func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: qg %s\n\n%s\n\nFlags:\n", c.synopsis, strings.TrimSpace(c.usage))
	fs.VisitAll(func(f *flag.Flag) { printFlag(w, f) })
	fmt.Fprint(w, exitCodesText)
}

// printFlag writes one flag's line and description, with two dashes.
func printFlag(w io.Writer, f *flag.Flag) {
	name, text := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if name != "" {
		line += " " + name
	}
	fmt.Fprintln(w, line)
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprintf(w, "        %s\n", l)
	}
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
		fmt.Fprintf(w, "        (default %s)\n", f.DefValue)
	}
}
