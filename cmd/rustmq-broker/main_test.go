package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/internal/proctest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := func() int {
		defer bin.Remove()
		return runTests(m)
	}()
	os.Exit(code)
}

// runTests runs the tests and checks for leaked goroutines, as
// goleak.VerifyTestMain does, but returns the code so that the built
// binary can be removed afterwards.
func runTests(m *testing.M) int {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			return 1
		}
	}
	return code
}

func TestRunPrintsBannerAndStopsOnCancel(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	var out, errs proctest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--brokers", "2", "--topic", "a:3", "--topic", "b:1", "--write-ca", ca, "--user", "alice:pw", "--log-level", "debug"}, &out, &errs)
	}()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(out.String(), "connect: dial") {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, errs.String())
		case <-deadline:
			t.Fatalf("no banner: %q", out.String())
		case <-time.After(10 * time.Millisecond): // polling the banner a child goroutine writes
		}
	}
	banner := out.String()
	for _, want := range []string{"broker-0 listening on 127.0.0.1:", "broker-1 listening on 127.0.0.1:", "CA certificate written to " + ca, `ALPN "rustmq"`, "authenticate"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if pem, err := os.ReadFile(ca); err != nil || !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Fatalf("CA file: %v", err)
	}
	if !strings.Contains(errs.String(), "broker started") {
		t.Errorf("no slog output on stderr: %q", errs.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "nocount"}, "NAME:PARTITIONS"},
		{[]string{"--topic", "t:0"}, "partition count 0"},
		{[]string{"--tls-cert", "c.pem"}, "go together"},
		{[]string{"--user", "nopassword"}, "NAME:PASSWORD"},
		{[]string{"--client-ca", "/does/not/exist"}, "--client-ca"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--listen", "127.0.0.1:0", "extra"}, "unexpected arguments"},
		{[]string{"--brokers", "0", "--max-request-bytes", "1"}, "MaxRequestBytes"},
		{[]string{"--no-such-flag"}, "not defined"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-dir", "d"}, "--tls-dir keeps a generated CA"},
	} {
		var out, errs proctest.SyncBuffer
		err := run(context.Background(), tc.args, &out, &errs)
		if err == nil || !strings.Contains(err.Error()+errs.String(), tc.want) {
			t.Errorf("run(%q) = %v (stderr %q), want an error mentioning %q", tc.args, err, errs.String(), tc.want)
		}
	}
}
