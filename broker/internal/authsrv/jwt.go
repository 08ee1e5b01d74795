package authsrv

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Minimum key sizes New accepts for JWT verification.
const (
	MinHMACKeyBytes = 32   // RFC 7518 section 3.2: at least the hash size of HS256
	MinRSAKeyBits   = 2048 // RFC 7518 section 3.3
)

// jwtVerifier is immutable after newJWTVerifier; jwt.Parser is safe for
// concurrent use.
type jwtVerifier struct {
	key    any
	parser *jwt.Parser
}

// newJWTVerifier picks the algorithms key can verify and builds a parser
// that accepts only those, requires exp, and checks iss and aud when given.
func newJWTVerifier(key any, issuer, audience string) (*jwtVerifier, error) {
	var algs []string
	switch k := key.(type) {
	case []byte:
		if len(k) < MinHMACKeyBytes {
			return nil, fmt.Errorf("authsrv: Config.JWTKey: HMAC secret of %d bytes is shorter than %d", len(k), MinHMACKeyBytes)
		}
		key = append([]byte(nil), k...)
		algs = []string{"HS256", "HS384", "HS512"}
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return nil, errors.New("authsrv: Config.JWTKey: nil *rsa.PublicKey")
		}
		if k.N.BitLen() < MinRSAKeyBits {
			return nil, fmt.Errorf("authsrv: Config.JWTKey: RSA key of %d bits is shorter than %d", k.N.BitLen(), MinRSAKeyBits)
		}
		algs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return nil, errors.New("authsrv: Config.JWTKey: nil *ecdsa.PublicKey")
		}
		switch k.Curve {
		case elliptic.P256():
			algs = []string{"ES256"}
		case elliptic.P384():
			algs = []string{"ES384"}
		case elliptic.P521():
			algs = []string{"ES512"}
		default:
			return nil, fmt.Errorf("authsrv: Config.JWTKey: ECDSA curve %s is not one of P-256, P-384, P-521", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("authsrv: Config.JWTKey: Ed25519 public key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		algs = []string{"EdDSA"}
	default:
		return nil, fmt.Errorf("authsrv: Config.JWTKey: unsupported key type %T (want []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey)", key)
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(algs), jwt.WithExpirationRequired()}
	if issuer != "" {
		opts = append(opts, jwt.WithIssuer(issuer))
	}
	if audience != "" {
		opts = append(opts, jwt.WithAudience(audience))
	}
	return &jwtVerifier{key: key, parser: jwt.NewParser(opts...)}, nil
}

// verify checks a compact JWT and returns its subject and expiry, or a
// reason fit for the client with the library's error as cause.
func (v *jwtVerifier) verify(token string) (sub string, exp time.Time, reason string, cause error) {
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "", time.Time{}, "malformed token", err
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "", time.Time{}, "token signature invalid or algorithm not accepted", err
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", time.Time{}, "token expired", err
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "", time.Time{}, "token not valid yet", err
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "", time.Time{}, "token issuer not accepted", err
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "", time.Time{}, "token audience not accepted", err
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "", time.Time{}, "token lacks a required claim (exp, and iss/aud where configured)", err
	default:
		return "", time.Time{}, "token rejected", err
	}
	if claims.Subject == "" {
		return "", time.Time{}, "token has no subject (sub)", nil
	}
	return claims.Subject, claims.ExpiresAt.Time, "", nil
}

// jwtSession is one JWT exchange: a single step carrying the token.
type jwtSession struct {
	server  *Server
	done    bool
	expires time.Time // set once the token verified
}

func (s *jwtSession) Step(payload []byte) ([]byte, bool, string, error) {
	if s.done {
		return nil, false, "", fail(MechanismJWT, reasonFinished, nil)
	}
	s.done = true
	if len(payload) > MaxPayload {
		return nil, false, "", fail(MechanismJWT, reasonTooLarge, nil)
	}
	sub, exp, reason, cause := s.server.jwt.verify(string(payload))
	if reason != "" {
		return nil, false, "", fail(MechanismJWT, reason, cause)
	}
	s.expires = exp
	return nil, true, sub, nil
}
