package runtime

import (
	"github.com/asynkron/protoactor-go/actor"
)

// WithActorMiddleware adds mw to the props of every actor of runtimes built
// from cfg: tests use it to make actors panic on chosen messages.
func WithActorMiddleware(cfg *Config, mw ...actor.ReceiverMiddleware) {
	if cfg.hooks == nil {
		cfg.hooks = &testHooks{}
	}
	cfg.hooks.middleware = append(cfg.hooks.middleware, mw...)
}

// WithPartsHook runs f each time an actor asks for a message's contents.
func WithPartsHook(cfg *Config, f func(m *Message)) {
	if cfg.hooks == nil {
		cfg.hooks = &testHooks{}
	}
	cfg.hooks.parts = f
}
