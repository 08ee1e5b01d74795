package authsrv

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"strings"

	"github.com/xdg-go/scram"
)

var (
	sha256Gen scram.HashGeneratorFcn = sha256.New
	sha512Gen scram.HashGeneratorFcn = sha512.New
)

// scramSaltLen is the length of the random salt derived per user.
const scramSaltLen = 16

// scramUser is one user's SCRAM entry under its SASLprep'd name.
type scramUser struct {
	name  string // as configured; the principal
	creds scram.StoredCredentials
}

// scramMech serves one SCRAM hash. Its maps are immutable after
// newScramMech; scram.Server is safe for concurrent use.
type scramMech struct {
	mechanism string
	hashGen   scram.HashGeneratorFcn
	users     map[string]scramUser // keyed by the name as it arrives on the wire
	secret    []byte               // keys the fake credentials of unknown users
	server    *scram.Server
}

func newScramMech(mechanism string, h scram.HashGeneratorFcn, users map[string]string) (*scramMech, error) {
	m := &scramMech{
		mechanism: mechanism,
		hashGen:   h,
		users:     make(map[string]scramUser, len(users)),
		secret:    make([]byte, 32),
	}
	_, _ = rand.Read(m.secret) // crypto/rand.Read never fails (Go 1.24+)
	for user, pass := range users {
		client, err := h.NewClient(user, pass, "")
		if err != nil {
			return nil, fmt.Errorf("authsrv: Config.Users[%q]: %s cannot use this user name or password: %w", user, mechanism, err)
		}
		wireName, err := preparedName(client)
		if err != nil {
			return nil, fmt.Errorf("authsrv: Config.Users[%q]: %s: %w", user, mechanism, err)
		}
		if prev, dup := m.users[wireName]; dup {
			return nil, fmt.Errorf("authsrv: Config.Users keys %q and %q are the same name after SASLprep", prev.name, user)
		}
		salt := make([]byte, scramSaltLen)
		_, _ = rand.Read(salt)
		creds, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: ScramIterations})
		if err != nil {
			return nil, fmt.Errorf("authsrv: Config.Users[%q]: %s key derivation: %w", user, mechanism, err)
		}
		m.users[wireName] = scramUser{name: user, creds: creds}
	}
	srv, err := h.NewServer(m.lookup)
	if err != nil {
		return nil, fmt.Errorf("authsrv: %s: %w", mechanism, err)
	}
	m.server = srv
	return m, nil
}

// preparedName returns the user name exactly as a conforming client puts it
// on the wire after SASLprep, decoded from its saslname escaping: what the
// server conversation hands to the lookup. It asks the scram client itself,
// so the normalisation is the same one every xdg-go/scram client applies.
func preparedName(c *scram.Client) (string, error) {
	first, err := c.NewConversation().Step("")
	if err != nil {
		return "", err
	}
	// client-first: gs2-header "n,," then "n=<saslname>,r=<nonce>".
	rest, ok := strings.CutPrefix(first, "n,,n=")
	if !ok {
		return "", fmt.Errorf("unexpected client-first shape")
	}
	name, _, ok := strings.Cut(rest, ",r=")
	if !ok {
		return "", fmt.Errorf("unexpected client-first shape")
	}
	return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(name), nil
}

// lookup returns a user's stored credentials. For a name it does not know
// it returns credentials no password matches, with a salt that is stable per
// name, so the exchange proceeds exactly as for a wrong password and a
// client cannot tell the two apart (RFC 5802 section 9 suggests this).
func (m *scramMech) lookup(name string) (scram.StoredCredentials, error) {
	if u, ok := m.users[name]; ok {
		return u.creds, nil
	}
	mac := hmac.New(sha256.New, m.secret)
	mac.Write([]byte("salt\x00"))
	mac.Write([]byte(name))
	salt := mac.Sum(nil)[:scramSaltLen]
	size := m.hashGen().Size()
	fake := make([]byte, 2*size)
	_, _ = rand.Read(fake)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: ScramIterations},
		StoredKey:  fake[:size],
		ServerKey:  fake[size:],
	}, nil
}

func (m *scramMech) start() *scramSession {
	return &scramSession{mech: m, conv: m.server.NewConversation()}
}

// scramSession is one SCRAM exchange: client-first, then client-final.
type scramSession struct {
	mech  *scramMech
	conv  *scram.ServerConversation
	state int // 0 awaiting client-first, 1 awaiting client-final, 2 finished
}

func (s *scramSession) Step(payload []byte) ([]byte, bool, string, error) {
	mech := s.mech.mechanism
	state := s.state
	s.state = 2 // until proven otherwise below
	if state == 2 {
		return nil, false, "", fail(mech, reasonFinished, nil)
	}
	if len(payload) > MaxPayload {
		return nil, false, "", fail(mech, reasonTooLarge, nil)
	}
	resp, err := s.conv.Step(string(payload))
	if state == 0 {
		if err != nil {
			// Lookups never fail, so this is a malformed client-first or
			// channel binding the broker does not offer.
			return nil, false, "", fail(mech, "malformed client-first message", err)
		}
		s.state = 1
		return []byte(resp), false, "", nil
	}
	if err != nil || !s.conv.Valid() {
		return nil, false, "", fail(mech, reasonFailed, nil)
	}
	u, ok := s.mech.users[s.conv.Username()]
	if !ok {
		// Unreachable: unknown users get keys no proof matches.
		return nil, false, "", fail(mech, reasonFailed, nil)
	}
	if az := s.conv.AuthzID(); az != "" && az != s.conv.Username() {
		return nil, false, "", fail(mech, "authorization identity must be empty or the user name", nil)
	}
	return []byte(resp), true, u.name, nil
}
