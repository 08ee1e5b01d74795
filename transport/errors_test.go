package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestIsRetriable(t *testing.T) {
	connLost := &ConnError{Addr: "b:1", Op: "read", Err: &quic.ApplicationError{Remote: true, ErrorCode: 1}}
	idle := &ConnError{Addr: "b:1", Op: "conn", Err: &quic.IdleTimeoutError{}}
	reset := &StreamError{Addr: "b:1", RequestType: 1, Err: &quic.StreamError{ErrorCode: 3, Remote: true}}
	noALPN := &quic.TransportError{Remote: true, ErrorCode: cryptoErrorNoApplicationProtocol}
	badCert := &quic.TransportError{Remote: true, ErrorCode: 0x100 + 42}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"request too large", fmt.Errorf("x: %w", ErrRequestTooLarge), false},
		{"response too large", ErrResponseTooLarge, false},
		{"connection lost", connLost, true},
		{"idle timeout", idle, true},
		{"stream reset", reset, true},
		{"dial timeout", &ConnError{Op: "dial", Err: fmt.Errorf("dial timeout: %w", context.DeadlineExceeded)}, true},
		{"caller cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"caller deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"not leader", &wire.ResponseError{Err: wire.ErrNotLeader}, true},
		{"unknown topic", wire.ErrUnknownTopicOrPartition, true},
		{"message too large code", &wire.ResponseError{Err: wire.ErrMessageTooLarge}, false},
		{"broker 0xFF", &BrokerError{Message: "Error: boom"}, false},
		{"malformed", ErrMalformedResponse, false},
		{"auth refused", &AuthError{Err: &wire.ResponseError{Err: wire.ErrSASLAuthenticationFailed}}, false},
		{"auth mechanism error", &AuthError{Err: errors.New("server signature mismatch")}, false},
		{"auth interrupted by loss", &AuthError{Err: connLost}, true},
		{"auth interrupted by timeout", &AuthError{Err: context.DeadlineExceeded}, true},
		{"reauth failure as cause", &ConnError{Op: "reauthenticate", Err: &AuthError{Err: wire.ErrSASLAuthenticationFailed}}, false},
		{"alpn mismatch", &ConnError{Op: "dial", Err: fmt.Errorf("%w: %w", ErrALPNMismatch, noALPN)}, false},
		{"tls alert", &ConnError{Op: "dial", Err: badCert}, false},
		{"unknown CA", &ConnError{Op: "dial", Err: x509.UnknownAuthorityError{}}, false},
		{"tls file", &TLSFileError{Field: "TLS.CAFile", Err: ErrNoCertificates}, false},
		{"config", &ConfigError{Field: "DialTimeout"}, false},
		{"unclassified", errors.New("mystery"), false},
	} {
		if got := IsRetriable(tc.err); got != tc.want {
			t.Errorf("%s: IsRetriable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestConnErrorIsNetError(t *testing.T) {
	var err error = &ConnError{Addr: "b:1", Op: "conn", Err: &quic.IdleTimeoutError{}}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("%v: net.Error %v, ErrClosed %v", err, errors.As(err, &ne), errors.Is(err, net.ErrClosed))
	}
	var ie *quic.IdleTimeoutError
	if !errors.As(err, &ie) {
		t.Fatal("ConnError does not unwrap to the quic-go error")
	}
}

func TestIsALPNFailure(t *testing.T) {
	if !isALPNFailure(&ConnError{Err: &quic.TransportError{ErrorCode: cryptoErrorNoApplicationProtocol}}) {
		t.Error("CRYPTO_ERROR 0x178 not recognised")
	}
	if !isALPNFailure(&ConnError{Err: &quic.TransportError{Remote: true, ErrorCode: quic.ApplicationErrorErrorCode}}) {
		t.Error("a remote bare APPLICATION_ERROR not recognised")
	}
	for _, err := range []error{
		&quic.TransportError{ErrorCode: 0x100 + 42},
		&quic.TransportError{ErrorCode: quic.ConnectionRefused},
		&quic.TransportError{ErrorCode: quic.ApplicationErrorErrorCode},                                     // local
		&quic.TransportError{Remote: true, ErrorCode: quic.ApplicationErrorErrorCode, ErrorMessage: "busy"}, // not bare
		&quic.TransportError{Remote: true, ErrorCode: quic.ApplicationErrorErrorCode, FrameType: 6},
		&quic.ApplicationError{Remote: true, ErrorCode: 0x0c},     // an application close after the handshake
		errors.New("tls: server did not select an ALPN protocol"), // text alone is not enough
		nil,
	} {
		if isALPNFailure(err) {
			t.Errorf("%v taken for an ALPN failure", err)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&BrokerError{Addr: "b:1", RequestType: wire.TypeProduce, Message: "boom"}, "rustmq: broker b:1 failed produce request: boom"},
		{&ConfigError{Field: "DialTimeout", Value: "-1s", Reason: "must not be negative"}, `rustmq: transport config DialTimeout="-1s": must not be negative`},
		{&TLSFileError{Field: "TLS.CAFile", File: "/x.pem", Err: ErrNoCertificates}, `rustmq: TLS.CAFile "/x.pem": no PEM certificates found`},
		{&AuthError{Addr: "b:1", Mechanism: "PLAIN", Err: errors.New("no")}, "rustmq: authentication with PLAIN to b:1 failed: no"},
		{&StreamError{Addr: "b:1", RequestType: 77, Err: errors.New("reset")}, "rustmq: type-77 request to b:1: stream reset: reset"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
