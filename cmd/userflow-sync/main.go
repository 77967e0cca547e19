// Command userflow-sync keeps Userflow users and groups in step with a
// database, from change events in Kafka. See README.md.
//
// Usage:
//
//	userflow-sync run      --config FILE      sync until SIGINT/SIGTERM, then drain and exit
//	userflow-sync validate --config FILE      check the config (--remote: also Kafka and Userflow)
//	userflow-sync dry-run  --config FILE      print the requests that would be sent; write nothing
//	userflow-sync demo                        a 10-second tour on an in-process broker and fake Userflow
//	userflow-sync healthcheck [--url URL]     exit 0 if URL answers 200 (container healthchecks)
//	userflow-sync version                     print the version
//
// Exit codes: 0 success; 1 runtime failure (Userflow rejected the API key, a
// bad event under dead_letter.policy stop, Kafka or Userflow unreachable for
// validate --remote, a demo whose result is wrong); 2 usage error; 3 invalid
// configuration; 130 a second interrupt signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/userflow-sync/userflow-sync/internal/buildinfo"
	"github.com/userflow-sync/userflow-sync/internal/config"
)

// Exit codes; see the package doc.
const (
	exitOK        = 0
	exitFailure   = 1
	exitUsage     = 2
	exitConfig    = 3
	exitInterrupt = 130
)

func main() {
	ctx, stop := signalContext()
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// signalContext ends its context at the first SIGINT or SIGTERM (drain and
// stop) and exits the process at once at the second.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "userflow-sync: %v: stopping after in-flight work (signal again to exit at once)\n", sig)
			cancel()
		case <-ctx.Done():
			return
		}
		<-sigs
		fmt.Fprintln(os.Stderr, "userflow-sync: second signal, exiting at once")
		os.Exit(exitInterrupt)
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

const usage = `userflow-sync keeps Userflow users and groups in step with your database,
from change events in Kafka.

Usage:
  userflow-sync run      --config FILE [--log-level LEVEL] [--log-format json|console]
  userflow-sync validate --config FILE [--remote] [--print]
  userflow-sync dry-run  --config FILE [--max N]
  userflow-sync demo     [--log-level LEVEL]
  userflow-sync healthcheck [--url URL]
  userflow-sync version

Run "userflow-sync COMMAND --help" for a command's flags.

Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 invalid configuration,
130 second interrupt.
`

// usageError is a command line the program cannot run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// configError is a configuration that does not validate.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// run is the whole program but for the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		err = cmdRun(ctx, rest, stdout, stderr)
	case "validate":
		err = cmdValidate(ctx, rest, stdout, stderr)
	case "dry-run":
		err = cmdDryRun(ctx, rest, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, rest, stdout, stderr)
	case "healthcheck":
		err = cmdHealthcheck(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, buildinfo.Product, buildinfo.Version)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	return exitCode(err, stderr)
}

// exitCode reports err once, at this boundary, and maps it to an exit code.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	var ce configError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "userflow-sync: %v\n\n%s", err, usage)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, "userflow-sync: invalid configuration:")
		for _, p := range config.Problems(ce.err) {
			fmt.Fprintln(stderr, "  "+p)
		}
		return exitConfig
	default:
		fmt.Fprintf(stderr, "userflow-sync: %v\n", err)
		return exitFailure
	}
}

// newFlags is a flag set that reports errors as usage errors, not by exiting.
func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: userflow-sync %s\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected arguments %q", fs.Name(), fs.Args())}
	}
	return nil
}
