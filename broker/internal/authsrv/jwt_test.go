package authsrv_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rustmq/rustmq-go/broker/internal/authsrv"
)

// Keys are made once per test binary: RSA generation is slow under -race.
var testKeys = sync.OnceValue(func() (k struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	ec3  *ecdsa.PrivateKey
	ed   ed25519.PrivateKey
	rsa2 *rsa.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec3, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func validClaims(sub string) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
}

func jwtStep(t *testing.T, s *authsrv.Server, token string) (authsrv.Session, bool, string, error) {
	t.Helper()
	sess, err := s.Start("JWT")
	if err != nil {
		t.Fatal(err)
	}
	resp, done, principal, err := sess.Step([]byte(token))
	if len(resp) != 0 {
		t.Fatalf("JWT answered %q; it has no server data", resp)
	}
	if err != nil && (done || principal != "") {
		t.Fatalf("failure with done=%v principal=%q", done, principal)
	}
	return sess, done, principal, err
}

func TestJWTAcceptsEachKeyType(t *testing.T) {
	k := testKeys()
	for _, tc := range []struct {
		name    string
		verify  any
		method  jwt.SigningMethod
		signKey any
	}{
		{"HS256", hmacKey, jwt.SigningMethodHS256, hmacKey},
		{"HS512", hmacKey, jwt.SigningMethodHS512, hmacKey},
		{"RS256", &k.rsa.PublicKey, jwt.SigningMethodRS256, k.rsa},
		{"PS384", &k.rsa.PublicKey, jwt.SigningMethodPS384, k.rsa},
		{"ES256", &k.ec.PublicKey, jwt.SigningMethodES256, k.ec},
		{"ES384", &k.ec3.PublicKey, jwt.SigningMethodES384, k.ec3},
		{"EdDSA", k.ed.Public().(ed25519.PublicKey), jwt.SigningMethodEdDSA, k.ed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, authsrv.Config{JWTKey: tc.verify})
			_, done, principal, err := jwtStep(t, s, sign(t, tc.method, tc.signKey, validClaims("svc-orders")))
			if err != nil || !done || principal != "svc-orders" {
				t.Fatalf("done=%v principal=%q err=%v", done, principal, err)
			}
		})
	}
}

func TestJWTRejects(t *testing.T) {
	k := testKeys()
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey))})
	past := time.Now().Add(-time.Hour)
	expired := jwt.RegisteredClaims{Subject: "svc", ExpiresAt: jwt.NewNumericDate(past)}
	noExp := jwt.RegisteredClaims{Subject: "svc"}
	noSub := jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	notYet := validClaims("svc")
	notYet.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour))
	withIss := validClaims("svc")
	withIss.Issuer = "evil"
	withAud := validClaims("svc")
	withAud.Issuer = "issuer"
	withAud.Audience = jwt.ClaimStrings{"someone-else"}
	noneTok := must(jwt.NewWithClaims(jwt.SigningMethodNone, validClaims("svc")).SignedString(jwt.UnsafeAllowNoneSignatureType))
	hsValid := sign(t, jwt.SigningMethodHS256, hmacKey, validClaims("svc"))

	hmacSrv := newServer(t, authsrv.Config{JWTKey: hmacKey})
	rsaSrv := newServer(t, authsrv.Config{JWTKey: &k.rsa.PublicKey})
	ecSrv := newServer(t, authsrv.Config{JWTKey: &k.ec.PublicKey})
	issSrv := newServer(t, authsrv.Config{JWTKey: hmacKey, JWTIssuer: "issuer", JWTAudience: "rustmq"})

	for _, tc := range []struct {
		name   string
		srv    *authsrv.Server
		token  string
		reason string
		cause  error // nil: not checked
	}{
		{"expired", hmacSrv, sign(t, jwt.SigningMethodHS256, hmacKey, expired), "expired", jwt.ErrTokenExpired},
		{"no exp", hmacSrv, sign(t, jwt.SigningMethodHS256, hmacKey, noExp), "required claim", jwt.ErrTokenRequiredClaimMissing},
		{"no sub", hmacSrv, sign(t, jwt.SigningMethodHS256, hmacKey, noSub), "no subject", nil},
		{"not yet valid", hmacSrv, sign(t, jwt.SigningMethodHS256, hmacKey, notYet), "not valid yet", jwt.ErrTokenNotValidYet},
		{"wrong HMAC key", hmacSrv, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-32"), validClaims("svc")), "signature", jwt.ErrTokenSignatureInvalid},
		{"wrong RSA key", rsaSrv, sign(t, jwt.SigningMethodRS256, k.rsa2, validClaims("svc")), "signature", jwt.ErrTokenSignatureInvalid},
		{"alg none (HMAC server)", hmacSrv, noneTok, "signature", nil},
		{"alg none (RSA server)", rsaSrv, noneTok, "signature", nil},
		// The classic confusion attack: the RSA public key, which is not
		// secret, used as an HMAC secret.
		{"HS256 with RSA public key as secret", rsaSrv, sign(t, jwt.SigningMethodHS256, rsaPEM, validClaims("svc")), "signature", jwt.ErrTokenSignatureInvalid},
		{"RS256 to an HMAC server", hmacSrv, sign(t, jwt.SigningMethodRS256, k.rsa, validClaims("svc")), "signature", nil},
		{"ES384 to a P-256 server", ecSrv, sign(t, jwt.SigningMethodES384, k.ec3, validClaims("svc")), "signature", nil},
		{"issuer mismatch", issSrv, sign(t, jwt.SigningMethodHS256, hmacKey, withIss), "issuer", jwt.ErrTokenInvalidIssuer},
		{"issuer missing", issSrv, hsValid, "iss", jwt.ErrTokenRequiredClaimMissing},
		{"audience mismatch", issSrv, sign(t, jwt.SigningMethodHS256, hmacKey, withAud), "audience", jwt.ErrTokenInvalidAudience},
		{"malformed", hmacSrv, "not.a.jwt", "malformed", jwt.ErrTokenMalformed},
		{"empty", hmacSrv, "", "malformed", jwt.ErrTokenMalformed},
		{"tampered payload", hmacSrv, tamper(hsValid), "signature", jwt.ErrTokenSignatureInvalid},
		{"too large", hmacSrv, strings.Repeat("a", authsrv.MaxPayload+1), "larger", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := jwtStep(t, tc.srv, tc.token)
			msg := failed(t, err)
			if !strings.Contains(msg, tc.reason) {
				t.Fatalf("message %q lacks %q", msg, tc.reason)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Fatalf("%v does not carry cause %v", err, tc.cause)
			}
		})
	}
}

// tamper swaps the subject inside a signed token's claims, keeping the
// signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	claims := must(jwt.NewParser().DecodeSegment(parts[1]))
	forged := strings.Replace(string(claims), `"sub":"svc"`, `"sub":"admin"`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	return strings.Join(parts, ".")
}

func TestJWTIssuerAndAudienceAccepted(t *testing.T) {
	s := newServer(t, authsrv.Config{JWTKey: hmacKey, JWTIssuer: "issuer", JWTAudience: "rustmq"})
	c := validClaims("svc")
	c.Issuer = "issuer"
	c.Audience = jwt.ClaimStrings{"other", "rustmq"}
	if _, done, principal, err := jwtStep(t, s, sign(t, jwt.SigningMethodHS256, hmacKey, c)); err != nil || !done || principal != "svc" {
		t.Fatalf("done=%v principal=%q err=%v", done, principal, err)
	}
}

func TestJWTLifetime(t *testing.T) {
	short := jwt.RegisteredClaims{Subject: "svc", ExpiresAt: jwt.NewNumericDate(time.Now().Add(30 * time.Second))}
	long := validClaims("svc")
	for _, tc := range []struct {
		name     string
		lifetime time.Duration
		claims   jwt.RegisteredClaims
		min, max time.Duration
	}{
		{"no limit: token expiry", 0, short, 25 * time.Second, 30 * time.Second},
		{"limit shorter than token", 5 * time.Minute, short, 25 * time.Second, 30 * time.Second},
		{"token outlives the limit", 5 * time.Minute, long, 5 * time.Minute, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, authsrv.Config{JWTKey: hmacKey, SessionLifetime: tc.lifetime})
			sess, _, _, err := jwtStep(t, s, sign(t, jwt.SigningMethodHS256, hmacKey, tc.claims))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.LifetimeOf(sess); got < tc.min || got > tc.max {
				t.Fatalf("LifetimeOf = %v, want within [%v, %v]", got, tc.min, tc.max)
			}
		})
	}
	// Other sessions get the configured lifetime.
	s := newServer(t, authsrv.Config{Users: map[string]string{"a": "b"}, JWTKey: hmacKey, SessionLifetime: time.Minute})
	plain, _ := s.Start("PLAIN")
	failedJWT, _, _, _ := jwtStep(t, s, "garbage")
	for _, sess := range []authsrv.Session{plain, failedJWT, nil} {
		if got := s.LifetimeOf(sess); got != time.Minute {
			t.Fatalf("LifetimeOf(%T) = %v", sess, got)
		}
	}
}

func TestJWTStepAfterDone(t *testing.T) {
	s := newServer(t, authsrv.Config{JWTKey: hmacKey})
	tok := sign(t, jwt.SigningMethodHS256, hmacKey, validClaims("svc"))
	sess, _, _, err := jwtStep(t, s, tok)
	if err != nil {
		t.Fatal(err)
	}
	_, done, principal, err := sess.Step([]byte(tok))
	if done || principal != "" {
		t.Fatalf("second step: done=%v principal=%q", done, principal)
	}
	failed(t, err)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
