package broker

import (
	"time"

	"github.com/rustmq/rustmq-go/broker/internal/authsrv"
)

// authsrvServer adapts *authsrv.Server to the handler's authServer.
type authsrvServer struct{ s *authsrv.Server }

// newAuthServer builds the Authenticate back end from cfg.
func newAuthServer(cfg *AuthConfig) (authServer, error) {
	s, err := authsrv.New(authsrv.Config{
		Users:           cfg.Users,
		JWTKey:          cfg.JWTKey,
		JWTIssuer:       cfg.JWTIssuer,
		JWTAudience:     cfg.JWTAudience,
		SessionLifetime: cfg.SessionLifetime,
	})
	if err != nil {
		return nil, err
	}
	return authsrvServer{s}, nil
}

func (a authsrvServer) Mechanisms() []string { return a.s.Mechanisms() }

func (a authsrvServer) start(mechanism string) (authSession, error) { return a.s.Start(mechanism) }

func (a authsrvServer) lifetimeOf(sess authSession) time.Duration {
	if s, ok := sess.(authsrv.Session); ok {
		return a.s.LifetimeOf(s)
	}
	return a.s.SessionLifetime()
}
