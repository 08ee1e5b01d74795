package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Sentinels for outcomes callers branch on with errors.Is.
var (
	// ErrRequestTooLarge: the request body exceeds Config.MaxRequestBytes;
	// nothing was sent.
	ErrRequestTooLarge = errors.New("rustmq: request too large")
	// ErrResponseTooLarge: the response body exceeds Config.MaxResponseBytes;
	// the stream was abandoned (the broker may have applied the request).
	ErrResponseTooLarge = errors.New("rustmq: response too large")
	// ErrMalformedResponse: the broker's answer breaks the framing of
	// docs/protocol.md (empty, or a type byte other than the request's or 0xFF).
	ErrMalformedResponse = errors.New("rustmq: malformed response")
	// ErrALPNMismatch: the handshake failed because client and broker share
	// no application protocol (the broker selected none while "rustmq" was
	// offered, or it requires one while none was offered). With ALPNAuto
	// this is only returned when both attempts failed that way.
	ErrALPNMismatch = errors.New("rustmq: no common ALPN application protocol")
	// ErrInvalidConfig is what every [*ConfigError] matches.
	ErrInvalidConfig = errors.New("rustmq: invalid transport configuration")
	// ErrNoCertificates: a CA or certificate file holds no PEM certificate.
	ErrNoCertificates = errors.New("no PEM certificates found")
	// ErrAuthRounds: the Authenticate exchange went on for more rounds than
	// any mechanism needs (see maxAuthRounds).
	ErrAuthRounds = errors.New("rustmq: too many authentication rounds")
)

// ConfigError names a [Config] field whose value cannot be used. It matches
// [ErrInvalidConfig] and unwraps to Err when there is an underlying cause
// (for field "Auth", the authenticator's own validation error, such as a
// *CredentialError).
type ConfigError struct {
	Field  string // e.g. "DialTimeout" or "TLS.KeyFile"
	Value  string // the offending value, as text (never a secret)
	Reason string
	Err    error // underlying cause, may be nil
}

// Error implements the error interface.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("rustmq: transport config %s=%q: %s", e.Field, e.Value, e.Reason)
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Unwrap returns the underlying cause, if any.
func (e *ConfigError) Unwrap() error { return e.Err }

// TLSFileError reports a TLS file that cannot be read or holds no usable
// material. NewDialer returns it for the initial load; a failed reload is
// logged and the previous material kept.
type TLSFileError struct {
	Field string // "TLS.CAFile", "TLS.CertFile" or "TLS.KeyFile"
	File  string // the path as configured
	Err   error  // the *fs.PathError, parse error or ErrNoCertificates
}

// Error implements the error interface.
func (e *TLSFileError) Error() string {
	return fmt.Sprintf("rustmq: %s %q: %v", e.Field, e.File, e.Err)
}

// Unwrap returns the underlying cause.
func (e *TLSFileError) Unwrap() error { return e.Err }

// BrokerError is a broker's 0xFF error frame: it could not handle the
// request and said why in text.
type BrokerError struct {
	Addr        string
	RequestType byte
	// Message is the frame's text without upstream's "Error: " prefix,
	// cut to wire.MaxErrorTextBytes with a marker (wire.ErrorFrameText).
	Message string
}

// Error implements the error interface.
func (e *BrokerError) Error() string {
	return fmt.Sprintf("rustmq: broker %s failed %s request: %s", e.Addr, requestName(e.RequestType), e.Message)
}

// ConnError reports a connection that could not be established or was lost:
// a failed or timed-out handshake, an idle timeout, the broker closing the
// connection, a stateless reset, or Close. It is a [net.Error] and matches
// [net.ErrClosed], so generic network code recognises it.
type ConnError struct {
	Addr string
	Op   string // "dial", "open stream", "write", "read", "close", "reauthenticate", "conn"
	Err  error
}

// Error implements the error interface.
func (e *ConnError) Error() string {
	return fmt.Sprintf("rustmq: connection to %s: %s: %v", e.Addr, e.Op, e.Err)
}

// Unwrap returns the underlying cause (often a quic-go error).
func (e *ConnError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, net.ErrClosed) true: the connection is unusable.
func (e *ConnError) Is(target error) bool { return target == net.ErrClosed }

// Timeout reports whether the connection failed for lack of an answer in
// time (dial timeout, handshake or idle timeout).
func (e *ConnError) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// Temporary reports whether trying again may help; it equals IsRetriable.
func (e *ConnError) Temporary() bool { return IsRetriable(e) }

var _ net.Error = (*ConnError)(nil)

// StreamError reports that the broker reset one request's stream while the
// connection stayed up. The request may or may not have been applied.
type StreamError struct {
	Addr        string
	RequestType byte
	Err         error // a *quic.StreamError
}

// Error implements the error interface.
func (e *StreamError) Error() string {
	return fmt.Sprintf("rustmq: %s request to %s: stream reset: %v", requestName(e.RequestType), e.Addr, e.Err)
}

// Unwrap returns the quic-go stream error.
func (e *StreamError) Unwrap() error { return e.Err }

// AuthError reports a failed Authenticate handshake. Err is a
// *wire.ResponseError when the broker refused (unwrapping to
// wire.ErrUnsupportedSASLMechanism or wire.ErrSASLAuthenticationFailed), the
// mechanism's own error (a bad credential, a server signature that does not
// verify), or the transport failure that interrupted the exchange.
type AuthError struct {
	Addr, Mechanism string
	Err             error
}

// Error implements the error interface.
func (e *AuthError) Error() string {
	return fmt.Sprintf("rustmq: authentication with %s to %s failed: %v", e.Mechanism, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *AuthError) Unwrap() error { return e.Err }

// IsRetriable reports whether the operation that returned err may succeed if
// tried again, on this connection or a new one. The branches, in the order
// they are checked:
//
// Size limits (ErrRequestTooLarge, ErrResponseTooLarge) are not retriable:
// the same request or the same answer will not shrink by itself, so a retry
// only repeats the failure (and for a response, the broker may already have
// applied the request).
//
// An *AuthError is not retriable when the broker refused the credentials or
// the mechanism, or the mechanism itself failed: nothing changes until an
// operator does. It is retriable only when the exchange was cut short by a
// lost connection, a reset stream or a timeout, since a fresh connection
// may then complete it.
//
// ALPN mismatches, TLS certificate verification failures and other TLS
// handshake alerts, and unreadable certificate files are configuration
// problems: a retry meets the same broker with the same settings. (A file
// rotated in the meantime is picked up on the next dial anyway, which a
// supervisor's restart will do.)
//
// context.Canceled means the caller gave up; retrying against its wish would
// be wrong.
//
// Protocol error codes (*wire.ResponseError, *wire.Error) follow the "R"
// column of docs/protocol.md via wire.IsRetriable: "not leader", "request timed out"
// and the like are transient, "message too large" is not.
//
// A *BrokerError (0xFF frame) and ErrMalformedResponse are not retriable: the
// frame carries no code to reason about, and a broker that cannot parse or
// serve a request answers the same way the next time.
//
// A *ConnError (connection lost or not established, including idle and
// handshake timeouts) and a *StreamError (the broker reset the stream) are
// retriable: the request may not have reached the broker, and a new stream or
// connection may well succeed; brokers honouring the idempotence headers turn
// the duplicate of an applied request into a no-op.
//
// context.DeadlineExceeded and other timeouts (net.Error with Timeout) are
// retriable: a slow broker or a lost packet is the usual reason, and the
// caller's own delivery deadline decides when to stop.
//
// Anything else is not retriable: an error we cannot classify is safer
// surfaced than repeated.
func IsRetriable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrRequestTooLarge) || errors.Is(err, ErrResponseTooLarge) {
		return false
	}
	if ae, ok := errors.AsType[*AuthError](err); ok {
		return isInterruption(ae.Err)
	}
	if errors.Is(err, ErrALPNMismatch) || isTLSFailure(err) {
		return false
	}
	if _, ok := errors.AsType[*TLSFileError](err); ok {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if _, ok := errors.AsType[*wire.Error](err); ok {
		return wire.IsRetriable(err)
	}
	if _, ok := errors.AsType[*BrokerError](err); ok {
		return false
	}
	if errors.Is(err, ErrMalformedResponse) {
		return false
	}
	if _, ok := errors.AsType[*ConnError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*StreamError](err); ok {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	return false
}

// isInterruption reports whether an authentication exchange failed because
// the transport broke under it rather than because of a verdict.
func isInterruption(err error) bool {
	if _, ok := errors.AsType[*wire.Error](err); ok {
		return false
	}
	if errors.Is(err, ErrALPNMismatch) || isTLSFailure(err) || errors.Is(err, context.Canceled) {
		return false
	}
	if _, ok := errors.AsType[*ConnError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*StreamError](err); ok {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// isTLSFailure reports certificate verification failures and TLS alerts
// raised by either side during the handshake.
func isTLSFailure(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	if te, ok := errors.AsType[*quic.TransportError](err); ok && te.ErrorCode.IsCryptoError() {
		return true
	}
	return false
}

// cryptoErrorNoApplicationProtocol is the QUIC CRYPTO_ERROR carrying TLS
// alert 120 (no_application_protocol): 0x100 + 120 (RFC 9001 §4.8).
const cryptoErrorNoApplicationProtocol = quic.TransportErrorCode(0x100 + 120)

// isALPNRefusal reports a handshake that failed for lack of a common
// application protocol, whichever side noticed: crypto/tls on our side
// ("server did not select an ALPN protocol", raised as a local crypto error
// with alert 120) or the broker's TLS stack refusing our offer (a remote
// CRYPTO_ERROR 0x178, as quinn-proto sends from 0.11.5 on). Nothing else
// maps to that code.
func isALPNRefusal(err error) bool {
	te, ok := errors.AsType[*quic.TransportError](err)
	return ok && te.ErrorCode == cryptoErrorNoApplicationProtocol
}

// isBareHandshakeClose reports a handshake the broker ended with a bare
// APPLICATION_ERROR: a remote CONNECTION_CLOSE of type 0x1c with code 0x0c,
// no frame type and no reason. quinn-proto before 0.11.5 (0.9 is what
// Debian packages) closes every handshake whose TLS fails after the
// client's first Initial packet this way, whatever the TLS alert, and a Go
// ClientHello spans two Initial packets: so this is what such a broker's
// ALPN refusal looks like, but also its refusal of a client certificate.
// It is only consulted for a dial that failed before the handshake
// completed; an application close after the handshake arrives as a
// *quic.ApplicationError instead and never matches.
func isBareHandshakeClose(err error) bool {
	te, ok := errors.AsType[*quic.TransportError](err)
	return ok && te.Remote && te.ErrorCode == quic.ApplicationErrorErrorCode && te.FrameType == 0 && te.ErrorMessage == ""
}

// isALPNFailure reports a dial error that may come from an ALPN refusal:
// either of the two above. ALPNAuto retries the other offer once on it.
func isALPNFailure(err error) bool { return isALPNRefusal(err) || isBareHandshakeClose(err) }

// isConnLevel reports quic-go errors that end the whole connection, as
// opposed to one stream.
func isConnLevel(err error) bool {
	if _, ok := errors.AsType[*quic.ApplicationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*quic.TransportError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*quic.IdleTimeoutError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*quic.StatelessResetError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*quic.HandshakeTimeoutError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*quic.VersionNegotiationError](err); ok {
		return true
	}
	return errors.Is(err, net.ErrClosed)
}

// requestName names a request type for messages.
func requestName(t byte) string {
	switch t {
	case wire.TypeProduce:
		return "produce"
	case wire.TypeFetch:
		return "fetch"
	case wire.TypeMetadata:
		return "metadata"
	case wire.TypeAuthenticate:
		return "authenticate"
	case wire.TypeCapabilities:
		return "capabilities"
	}
	return "type-" + strconv.Itoa(int(t))
}
