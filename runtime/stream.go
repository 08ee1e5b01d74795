package runtime

import (
	"context"
	"sync"
)

// Delivery is one message's outcome on a stream's output channel.
type Delivery struct {
	// Result is the message's result; Result.Err is its failure (also in
	// Err). Result is nil when the message was refused before acceptance
	// (validation error, ErrClosed, ErrBufferFull).
	Result *Result
	Err    error
	// Message is the message the delivery belongs to.
	Message *Message
}

// DefaultStreamWindow is the window of [Producer.Stream] when 0 is given.
const DefaultStreamWindow = 1024

// Stream produces every message received from in and sends one Delivery per
// message to the returned channel, in the order results become known.
//
// Backpressure: at most window messages (DefaultStreamWindow if window <= 0)
// are between in and the output at once, counting deliveries not yet read;
// when the window is full, Stream stops reading in until the caller reads a
// delivery. The producer's buffer limits apply as well (a full buffer blocks
// or, with FailWhenFull, yields ErrBufferFull deliveries).
//
// Stream stops reading in when in is closed or ctx ends; the output channel
// is closed after the deliveries of every message read from in have been
// sent. Read it until it is closed. ctx also bounds each message as in
// SendAsync.
func (p *Producer) Stream(ctx context.Context, in <-chan *Message, window int) <-chan Delivery {
	if window <= 0 {
		window = DefaultStreamWindow
	}
	out := make(chan Delivery)
	s := &stream{slots: make(chan struct{}, window), signal: make(chan struct{}, 1)}
	go s.intake(ctx, p, in)
	go s.forward(out)
	return out
}

type stream struct {
	slots  chan struct{} // one token per message between in and the output
	mu     sync.Mutex
	queue  []Delivery
	ended  bool // intake finished
	owed   int  // accepted messages whose delivery is not queued yet
	signal chan struct{}
}

func (s *stream) push(d Delivery, accepted bool) {
	s.mu.Lock()
	s.queue = append(s.queue, d)
	if accepted {
		s.owed--
	}
	s.mu.Unlock()
	s.wake()
}

func (s *stream) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *stream) intake(ctx context.Context, p *Producer, in <-chan *Message) {
	defer func() {
		s.mu.Lock()
		s.ended = true
		s.mu.Unlock()
		s.wake()
	}()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		var m *Message
		var ok bool
		select {
		case m, ok = <-in:
		case <-ctx.Done():
		}
		if !ok {
			<-s.slots
			return
		}
		s.mu.Lock()
		s.owed++
		s.mu.Unlock()
		msg := m
		err := p.SendAsync(ctx, msg, func(r *Result, err error) {
			s.push(Delivery{Result: r, Err: err, Message: msg}, true)
		})
		if err != nil {
			s.mu.Lock()
			s.owed--
			s.mu.Unlock()
			s.push(Delivery{Err: err, Message: msg}, false)
		}
	}
}

func (s *stream) forward(out chan<- Delivery) {
	defer close(out)
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		done := s.ended && s.owed == 0 && len(q) == 0
		s.mu.Unlock()
		if done {
			return
		}
		if len(q) == 0 {
			<-s.signal
			continue
		}
		for _, d := range q {
			out <- d
			<-s.slots
		}
	}
}
