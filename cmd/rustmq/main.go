package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, terminal: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

// env is what a subcommand may touch of the process: its streams, its
// environment, and whether stderr is a terminal (for the progress line).
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	terminal       bool
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // some message failed, or reading ended with an error
	exitUsage  = 2 // bad command line
)

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

// usageErr returns an error that prints as msg and exits with status 2.
func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, e env, args []string) error
}

var commands = []command{
	{"produce", "TOPIC", "send lines of stdin (or -file) as messages", runProduce},
	{"consume", "TOPIC", "print the records of a topic (alias: tail)", runConsume},
	{"topics", "[TOPIC...]", "list brokers, topics, partitions and leaders", runTopics},
	{"perf", "TOPIC", "producer performance test: msgs/s, MB/s, latency percentiles", runPerf},
}

func lookup(name string) *command {
	if name == "tail" {
		name = "consume"
	}
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: rustmq COMMAND [flags] [args]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-11s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'rustmq help COMMAND' for a command's flags.")
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				_ = c.run(ctx, e, []string{"-h"})
				return exitOK
			}
		}
		usage(e.stdout)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "rustmq: unknown command %q\n\n", name)
		usage(e.stderr)
		return exitUsage
	}
	err := c.run(ctx, e, args[1:])
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "rustmq %s: %s\n", c.name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return exitUsage
	case errors.Is(err, errFailed):
		return exitFailed
	}
	fmt.Fprintf(e.stderr, "rustmq %s: %v\n", c.name, err)
	return exitFailed
}

// errFailed says the command reported its failures itself (exit 1).
var errFailed = errors.New("failed")

// parse parses args with fs, allowing flags after positional arguments
// (rustmq produce orders -acks leader); "--" ends the flags.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
