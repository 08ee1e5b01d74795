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

	rmq "github.com/rustmq/rustmq-go/runtime"
)

func main() {
	stop, abort := notifySignals()
	code := run(stop, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		terminal: isTerminal(os.Stderr), abort: abort})
	os.Exit(code)
}

// errInterrupted is the cause of the contexts notifySignals ends.
var errInterrupted = errors.New("interrupted")

// notifySignals returns the contexts SIGINT and SIGTERM end: the first
// signal ends stop (stop reading input, stop sending, finish what was
// accepted), the second ends abort (give up on what is pending), and a
// third one ends the process the default way.
func notifySignals() (stop, abort context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	stop, endStop := context.WithCancelCause(context.Background())
	abort, endAbort := context.WithCancelCause(context.Background())
	go func() {
		<-ch
		endStop(errInterrupted)
		<-ch
		endAbort(errInterrupted)
		signal.Stop(ch)
	}()
	return stop, abort
}

// env is what a subcommand may touch of the process: its streams, its
// environment, whether stderr is a terminal (for the progress line), and
// the context a second interrupt ends.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	terminal       bool
	abort          context.Context
}

// abortCtx returns the context a second interrupt ends (never ending when
// the command runs without signal handling).
func (e env) abortCtx() context.Context {
	if e.abort == nil {
		return context.Background()
	}
	return e.abort
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1   // some message failed, or reading ended with an error
	exitUsage       = 2   // bad command line
	exitInterrupted = 130 // stopped by SIGINT or SIGTERM before its work was done (128 + SIGINT, as shells report it)
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
			c := lookup(args[1])
			if c == nil {
				fmt.Fprintf(e.stderr, "rustmq: unknown command %q\n\n", args[1])
				usage(e.stderr)
				return exitUsage
			}
			_ = c.run(ctx, e, []string{"-h"})
			return exitOK
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
	var ce *rmq.ConfigError
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
	case errors.As(err, &ce):
		// A flag value the runtime refuses: a usage error, named by flag.
		if f := configFlag(ce.Field); f != "" {
			fmt.Fprintf(e.stderr, "rustmq %s: %s: %v\n", c.name, f, err)
		} else {
			fmt.Fprintf(e.stderr, "rustmq %s: %v\n", c.name, err)
		}
		return exitUsage
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(e.stderr, "rustmq %s: %v\n", c.name, err)
		return exitInterrupted
	}
	fmt.Fprintf(e.stderr, "rustmq %s: %v\n", c.name, err)
	return exitFailed
}

// configFlags maps the runtime's configuration fields to the flags that
// set them, for *rmq.ConfigError messages.
var configFlags = []struct{ field, flag string }{
	{"Brokers", "-brokers"}, {"TLS.CertFile", "-cert and -key"}, {"TLS.KeyFile", "-cert and -key"}, {"TLS.ALPN", "-alpn"},
	{"TLS", "-ca, -cert or -key"}, {"ConnectTimeout", "-connect-timeout"}, {"RequestTimeout", "-request-timeout"},
	{"StaticPartitions", "-static-partitions"}, {"Acks", "-acks"}, {"Idempotence", "-idempotence"}, {"BatchSize", "-batch-size"},
	{"Linger", "-linger"}, {"Compression", "-compression"}, {"DeliveryTimeout", "-delivery-timeout"},
	{"Partitions", "-partition"}, {"Offsets", "-offset"}, {"Poll", "-poll"},
	{"Upstream", "-upstream"}, {"Auth", "-sasl or -jwt-token-file"},
}

// configFlag returns the flag that sets field, "" when none does.
func configFlag(field string) string {
	for _, m := range configFlags {
		if field == m.field || strings.HasPrefix(field, m.field+"[") || strings.HasPrefix(field, m.field+".") {
			return m.flag
		}
	}
	return ""
}

// errFailed says the command reported its failures itself (exit 1).
var errFailed = errors.New("failed")

// parse parses args with fs, allowing flags after positional arguments
// (rustmq produce orders -acks leader); "--" ends the flags.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package prints the whole usage on any mistake; print it
	// for -h only, and one line for a mistake.
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	defer func() { fs.SetOutput(out); fs.Usage = usage }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				usage()
				return nil, err
			}
			return nil, usageErr("%v ('rustmq help %s' lists the flags)", err, strings.TrimPrefix(fs.Name(), "rustmq "))
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
