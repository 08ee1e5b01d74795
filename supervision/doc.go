// Package supervision holds the restart strategies of the producer runtime's
// actor tree: a capped exponential [Backoff] with full jitter, a restart
// budget, one-for-one and all-for-one strategies built by [NewStrategy] as
// implementations of protoactor's actor.SupervisorStrategy, and the
// [DefaultDecider] that sorts failures into resume, restart, stop or escalate.
// It may import protoactor's actor package, the standard library and
// transport/wire (for the protocol error classes); it never imports transport,
// actors or runtime, and recognises connection loss through net.Error and
// net.ErrClosed, which the transport's errors implement.
//
// # Why not protoactor's own strategies
//
// protoactor's NewExponentialBackoffStrategy grows the delay linearly with the
// failure count, adds under half a microsecond of noise, has no cap and no
// restart budget; its one-for-one and all-for-one strategies restart at once.
// The strategy here waits Backoff.Delay(attempt) before every restart, so a
// child that keeps failing (a broker that refuses connections) is retried at
// Initial, Initial*Multiplier, ... up to Max, and gives up after MaxRestarts
// failures within Window.
//
// # How a failure is handled
//
// protoactor calls HandleFailure on the parent's goroutine with the failing
// child's mailbox suspended. The strategy asks the [Decider]; for a restart it
// counts the failure against the child's budget and either gives up
// ([GiveUpStop] or [GiveUpEscalate]) or schedules the restart after the
// backoff delay with time.AfterFunc. Until then the child stays suspended and
// its mailbox keeps queueing. Every decision is reported to Config.Observer
// as an [Event], written to Config.Logger, and published on the actor
// system's EventStream as an *actor.SupervisorEvent like protoactor's own
// strategies do.
//
// A child's backoff and budget start afresh after a calm Window, or at once
// when its owner calls [Strategy.Reset] because the child has shown that it
// works again (the runtime does so for a connection actor whose connection
// stayed up for a while before it was lost).
package supervision
