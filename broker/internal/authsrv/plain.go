package authsrv

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"unicode/utf8"
)

// Errors of parsePlain; each is a malformed PLAIN message (RFC 4616).
var (
	errPlainFields  = errors.New("want authzid NUL authcid NUL passwd")
	errPlainEmpty   = errors.New("empty authcid or passwd")
	errPlainUTF8    = errors.New("not valid UTF-8")
	errPlainAuthzID = errors.New("authzid differs from authcid")
)

// parsePlain splits a PLAIN message, [authzid] NUL authcid NUL passwd, and
// checks its shape: exactly two NULs, non-empty authcid and passwd, UTF-8
// throughout, and an authzid that is empty or names authcid itself (acting
// for another identity is not supported). The strings are copies.
func parsePlain(b []byte) (authzid, user, pass string, err error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", "", "", errPlainFields
	}
	j := bytes.IndexByte(b[i+1:], 0)
	if j < 0 {
		return "", "", "", errPlainFields
	}
	j += i + 1
	if bytes.IndexByte(b[j+1:], 0) >= 0 {
		return "", "", "", errPlainFields
	}
	az, u, p := b[:i], b[i+1:j], b[j+1:]
	if len(u) == 0 || len(p) == 0 {
		return "", "", "", errPlainEmpty
	}
	if !utf8.Valid(az) || !utf8.Valid(u) || !utf8.Valid(p) {
		return "", "", "", errPlainUTF8
	}
	if len(az) > 0 && !bytes.Equal(az, u) {
		return "", "", "", errPlainAuthzID
	}
	return string(az), string(u), string(p), nil
}

// unknownPlainUser is compared against when the user does not exist, so an
// unknown user costs the same work as a wrong password.
var unknownPlainUser = sha256.Sum256([]byte("authsrv: no such user"))

// plainSession is one PLAIN exchange: a single step.
type plainSession struct {
	server *Server
	done   bool
}

func (s *plainSession) Step(payload []byte) ([]byte, bool, string, error) {
	if s.done {
		return nil, false, "", fail(MechanismPlain, reasonFinished, nil)
	}
	s.done = true
	if len(payload) > MaxPayload {
		return nil, false, "", fail(MechanismPlain, reasonTooLarge, nil)
	}
	_, user, pass, err := parsePlain(payload)
	if err != nil {
		return nil, false, "", fail(MechanismPlain, "malformed message: "+err.Error(), nil)
	}
	want, known := s.server.plain[user]
	if !known {
		want = unknownPlainUser
	}
	got := sha256.Sum256([]byte(pass))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !known {
		return nil, false, "", fail(MechanismPlain, reasonFailed, nil)
	}
	return nil, true, user, nil
}
