package supervision_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// connErr stands for the transport's ConnError: a net.Error that unwraps
// to net.ErrClosed.
type connErr struct{ err error }

func (e *connErr) Error() string   { return "connection lost: " + e.err.Error() }
func (e *connErr) Unwrap() error   { return e.err }
func (e *connErr) Timeout() bool   { return false }
func (e *connErr) Temporary() bool { return false }

// authErr stands for the transport's AuthError: not a net.Error, unwraps
// to a *wire.ResponseError.
type authErr struct{ err error }

func (e *authErr) Error() string { return "authenticate: " + e.err.Error() }
func (e *authErr) Unwrap() error { return e.err }

// runtimeError returns a real runtime.Error value (index out of range).
func runtimeError(i int) (r any) {
	defer func() { r = recover() }()
	var s []int
	s[i] = 1
	return nil
}

func TestDefaultDecider(t *testing.T) {
	var opErr error = &net.OpError{Op: "dial", Net: "udp", Err: syscall.ECONNREFUSED}
	msg := "bad password"
	cases := []struct {
		name   string
		reason any
		want   actor.Directive
	}{
		// Credentials and permissions: Stop.
		{"sasl failed", wire.ResponseErr(58, &msg), actor.StopDirective},
		{"unsupported mechanism", wire.ResponseErr(33, nil), actor.StopDirective},
		{"topic authorization", fmt.Errorf("produce: %w", wire.ResponseErr(29, nil)), actor.StopDirective},
		{"auth error wrapping code 58", &authErr{wire.ResponseErr(58, nil)}, actor.StopDirective},
		{"bare table entry", wire.ErrSASLAuthenticationFailed, actor.StopDirective},
		{"wire.Error built apart", &wire.Error{Code: 58, Name: "SASL_AUTHENTICATION_FAILED"}, actor.StopDirective},
		{"auth joined with connection loss", errors.Join(net.ErrClosed, wire.ResponseErr(58, nil)), actor.StopDirective},
		// Connection loss and timeouts: Restart.
		{"net.OpError", opErr, actor.RestartDirective},
		{"transport-like ConnError", &connErr{net.ErrClosed}, actor.RestartDirective},
		{"wrapped net.ErrClosed", fmt.Errorf("read: %w", net.ErrClosed), actor.RestartDirective},
		{"io.EOF", io.EOF, actor.RestartDirective},
		{"io.ErrUnexpectedEOF", fmt.Errorf("frame: %w", io.ErrUnexpectedEOF), actor.RestartDirective},
		{"deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), actor.RestartDirective},
		{"os deadline", os.ErrDeadlineExceeded, actor.RestartDirective},
		{"errno", syscall.ECONNRESET, actor.RestartDirective},
		// Other protocol errors: Restart.
		{"not leader", wire.ResponseErr(6, nil), actor.RestartDirective},
		{"message too large", wire.ResponseErr(10, nil), actor.RestartDirective},
		{"unknown code", wire.ResponseErr(999, nil), actor.RestartDirective},
		{"decode error", &wire.DecodeError{Type: "ProduceResponse", Field: "x", Err: errors.New("truncated")}, actor.RestartDirective},
		// Bugs and odd panic values: Restart (the budget escalates).
		{"runtime error", runtimeError(3), actor.RestartDirective},
		{"string panic", "invariant broken", actor.RestartDirective},
		{"int panic", 42, actor.RestartDirective},
		{"nil", nil, actor.RestartDirective},
		// Everything else.
		{"cancelled", context.Canceled, actor.RestartDirective},
		{"plain error", errors.New("whatever"), actor.RestartDirective},
	}
	if _, ok := runtimeError(3).(runtime.Error); !ok {
		t.Fatal("runtimeError does not produce a runtime.Error")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := supervision.DefaultDecider(c.reason); got != c.want {
				t.Fatalf("DefaultDecider(%v) = %v, want %v", c.reason, got, c.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (supervision.Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	if err := (supervision.Config{MaxRestarts: -1, Window: time.Second}).Validate(); err != nil {
		t.Fatalf("unlimited budget with a short Window: %v", err)
	}
	cases := []struct {
		field string
		cfg   supervision.Config
	}{
		{"Kind", supervision.Config{Kind: 7}},
		{"GiveUp", supervision.Config{GiveUp: -1}},
		{"Window", supervision.Config{Window: -time.Second}},
		{"Window", supervision.Config{Window: 5 * time.Second}}, // not above the default Max of 10s
		{"Window", supervision.Config{Window: time.Second, Backoff: supervision.Backoff{Initial: time.Second, Max: time.Second}}},
		{"Backoff.Multiplier", supervision.Config{Backoff: supervision.Backoff{Multiplier: 0.1}}},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		var ce *supervision.ConfigError
		if !errors.Is(err, supervision.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: Validate = %v, want a ConfigError on %s", c.cfg, err, c.field)
			continue
		}
		if _, err := supervision.New(c.cfg); !errors.Is(err, supervision.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", c.cfg, err)
		}
		func() {
			defer func() {
				if r, _ := recover().(error); !errors.Is(r, supervision.ErrInvalidConfig) {
					t.Errorf("NewStrategy(%+v) panicked with %v, want the ConfigError", c.cfg, r)
				}
			}()
			supervision.NewStrategy(c.cfg)
		}()
	}
}

func TestKindAndGiveUpStrings(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		supervision.OneForOne: "one-for-one", supervision.AllForOne: "all-for-one", supervision.Kind(5): "Kind(5)",
		supervision.GiveUpStop: "stop", supervision.GiveUpEscalate: "escalate", supervision.GiveUp(9): "GiveUp(9)",
	} {
		if v.String() != want {
			t.Errorf("%v.String() = %q, want %q", v, v.String(), want)
		}
	}
}
