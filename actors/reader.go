package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Start offsets of a [ReadCursor]: an offset >= 0 is an absolute position;
// StartLatest is the high watermark when the reader starts; a value below
// it, StartLatest-n, is n records before that high watermark (never before
// offset 0).
const StartLatest int64 = -1

// ErrOffsetOutOfRange is matched by every *[OffsetOutOfRangeError].
var ErrOffsetOutOfRange = errors.New("rustmq: offset out of range")

// errBadAnswer marks a fetch answer that decodes but cannot be true.
var errBadAnswer = errors.New("rustmq: impossible fetch answer")

// OffsetOutOfRangeError says a reader was asked to start beyond the end of
// a partition: Offset is past HighWatermark, the offset the next record
// will get.
type OffsetOutOfRangeError struct {
	Topic         string
	Partition     int32
	Offset        int64
	HighWatermark int64
}

// Error implements the error interface.
func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("rustmq: offset out of range: %s/%d has no offset %d (high watermark %d)", e.Topic, e.Partition, e.Offset, e.HighWatermark)
}

// Is reports whether target is ErrOffsetOutOfRange.
func (e *OffsetOutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// ReadSink receives what a partition reader fetched. Its methods are called
// from the reader's actor goroutine; they must not block and must not call
// back into the actor synchronously.
type ReadSink interface {
	// Started says where reading starts in the partition: its start
	// offset, resolved against the high watermark of the first fetch. It
	// is called once, before any Records (not at all when the start is
	// out of range: Fail says so).
	Started(partition int32, offset int64)
	// Records hands over recs, the records of partition at offsets first,
	// first+1, ... Their byte slices alias a response body nobody else
	// holds; the sink may keep them. bytes is what the reader added to its
	// cursor's buffered count for them ([ReadCursor.Release] gives it back).
	Records(partition int32, first int64, recs []wire.Record, bytes int64)
	// End says the partition has been read up to the high watermark it had
	// when the reader started (only when not following). It is called once.
	End(partition int32)
	// Fail reports a failure that ends the partition's reading (an offset
	// out of range, a refused fetch). Nothing more comes for the partition.
	Fail(partition int32, err error)
}

// ReadCursor is the part of a partition reader that outlives restarts of
// its actor: where the next fetch starts, where reading ends, and how many
// bytes fetched records occupy until the consumer takes them. The actor is
// the only writer of the position; Release is for the consumer.
type ReadCursor struct {
	// start is the requested start (see StartLatest); resolved once.
	start    int64
	resolved bool
	next     int64 // offset of the next record to fetch
	end      int64 // high watermark at start: the end when not following
	ended    bool  // End or Fail was sent

	buffered atomic.Int64 // bytes handed to the sink and not released
	parked   atomic.Bool  // the actor waits for Release to make room
	self     atomic.Pointer[actor.PID]
	hw       atomic.Int64 // last high watermark seen
	startAt  atomic.Int64 // the resolved start, -1 before
	lastErr  atomic.Pointer[error]
}

// NewReadCursor returns the cursor of a partition reader that starts at
// start (an offset, StartLatest, or StartLatest-n).
func NewReadCursor(start int64) *ReadCursor {
	c := &ReadCursor{start: start}
	c.hw.Store(-1)
	c.startAt.Store(-1)
	return c
}

// Release gives back n bytes of records the consumer has taken. When the
// partition's actor was waiting for room it returns its PID, to which the
// caller sends *[ReadResume]; otherwise nil.
func (c *ReadCursor) Release(n int64) *actor.PID {
	c.buffered.Add(-n)
	if c.parked.Load() && c.parked.CompareAndSwap(true, false) {
		return c.self.Load()
	}
	return nil
}

// Buffered returns the bytes of fetched records not yet released.
func (c *ReadCursor) Buffered() int64 { return c.buffered.Load() }

// HighWatermark returns the partition's high watermark as of the last
// fetch, -1 before the first.
func (c *ReadCursor) HighWatermark() int64 { return c.hw.Load() }

// ResolvedStart returns the offset reading started at, once the first
// fetch has resolved it; -1 before.
func (c *ReadCursor) ResolvedStart() int64 { return c.startAt.Load() }

// LastError returns the failure of the last fetch attempt when it failed
// (the reader is retrying), nil once a fetch succeeds.
func (c *ReadCursor) LastError() error {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// ReadResume tells a partition reader parked on a full prefetch buffer that
// the consumer made room.
type ReadResume struct{}

// PartitionReaderConfig configures a partition reader actor.
type PartitionReaderConfig struct {
	Topic     string
	Partition int32
	// Metadata is the metadata actor, asked for the partition's leader.
	Metadata *actor.PID
	// Cursor is the reader's position; it must outlive the actor's
	// restarts, so the same cursor goes into every incarnation.
	Cursor *ReadCursor
	// Sink receives the records.
	Sink ReadSink
	// Follow keeps fetching at the end of the partition, waiting for new
	// records; without it the reader ends at the high watermark it found
	// when it started.
	Follow bool
	// Poll is the long-poll wait of a fetch at the end of the partition
	// (the request's timeout_ms). Against a broker that answers at once
	// (upstream has no long poll), it is also the pause between two empty
	// fetches. Required.
	Poll time.Duration
	// MaxFetchBytes is the max_bytes of one fetch. Required.
	MaxFetchBytes int32
	// PrefetchBytes bounds the bytes of fetched records the sink holds for
	// this partition: no fetch is sent while they reach it, and a fetch
	// asks for no more than the room left (a broker still sends one record
	// when the first is larger). Required.
	PrefetchBytes int64
	// RequestTimeout is added to Poll to bound one fetch.
	RequestTimeout time.Duration
	// RetryBackoff spaces the retries of failed fetches.
	RetryBackoff supervision.Backoff
	// Logger receives retries; nil discards.
	Logger *slog.Logger
}

// internal messages of the partition reader.
type (
	readRetryTick struct{ gen uint64 }
	readPollTick  struct{ gen uint64 }
	readExpire    struct{ gen, id uint64 }
)

// partitionReader fetches one partition into its sink. Its state that must
// survive a restart (the position, the buffered count) is in the cursor;
// what is rebuilt on restart is the leader, the request in flight (whose
// late answer is ignored: the new incarnation fetches again from the same
// position) and the timers.
type partitionReader struct {
	cfg  PartitionReaderConfig
	cur  *ReadCursor
	sys  *actor.ActorSystem
	self *actor.PID
	gen  uint64
	quit chan struct{}

	conn     *actor.PID // leader's connection actor, nil while unknown
	addr     string
	asking   bool   // a LeaderRequest is out
	inflight uint64 // ID of the fetch in flight, 0 when none
	probe    bool   // the fetch in flight learns the high watermark
	sentAt   time.Time
	waiting  bool // a retry or poll timer is pending
	attempts int  // consecutive failures
}

var readerIDs = newAtomicCounter()

// NewPartitionReaderProps returns the props of a partition reader actor.
// Spawn it under a supervisor whose strategy comes from package
// supervision; a restart resumes from the cursor.
func NewPartitionReaderProps(cfg PartitionReaderConfig) *actor.Props {
	cfg.Logger = orDiscard(cfg.Logger)
	cfg.RetryBackoff = cfg.RetryBackoff.WithDefaults()
	return actor.PropsFromProducer(func() actor.Actor {
		return &partitionReader{cfg: cfg, cur: cfg.Cursor}
	})
}

func (a *partitionReader) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.sys, a.self = c.ActorSystem(), c.Self()
		a.gen = genCounter.next()
		a.quit = make(chan struct{})
		a.cur.self.Store(a.self)
		a.askLeader(false)
	case *LeaderInfo:
		a.onLeader(m)
	case *Response:
		if m.ID != a.inflight || a.inflight == 0 {
			return
		}
		a.inflight = 0
		a.onResponse(m)
	case *readExpire:
		if m.gen == a.gen && m.id == a.inflight && a.inflight != 0 {
			a.inflight = 0
			a.onResponse(&Response{ID: m.id, Addr: a.addr, Err: fmt.Errorf("%w: fetch %s/%d: no answer from the connection actor", ErrRequestTimeout, a.cfg.Topic, a.cfg.Partition)})
		}
	case *ReadResume:
		a.step()
	case *readRetryTick:
		if m.gen == a.gen {
			a.waiting = false
			a.askLeader(true)
		}
	case *readPollTick:
		if m.gen == a.gen {
			a.waiting = false
			a.step()
		}
	case *actor.Restarting, *actor.Stopping:
		if a.quit != nil {
			close(a.quit)
			a.quit = nil
		}
	}
}

// tell returns a function that sends msg to this incarnation unless it has
// shut down (mail to a stopped actor would only reach the dead letters).
func (a *partitionReader) tell() func(msg any) {
	sys, self, quit := a.sys, a.self, a.quit
	return func(msg any) {
		select {
		case <-quit:
		default:
			sys.Root.Send(self, msg)
		}
	}
}

func (a *partitionReader) after(d time.Duration, msg any) {
	tell := a.tell()
	time.AfterFunc(d, func() { tell(msg) })
}

func (a *partitionReader) askLeader(refresh bool) {
	if a.asking || a.cur.ended {
		return
	}
	a.asking = true
	a.sys.Root.Send(a.cfg.Metadata, &LeaderRequest{Topic: a.cfg.Topic, Partition: a.cfg.Partition, Refresh: refresh, ReplyTo: a.self})
}

func (a *partitionReader) onLeader(m *LeaderInfo) {
	a.asking = false
	if m.Err != nil {
		if errors.Is(m.Err, ErrInvalidPartition) || !(retriable(m.Err) || errors.Is(m.Err, ErrUnknownTopic)) {
			a.fail(m.Err)
			return
		}
		a.retry(m.Err)
		return
	}
	a.conn, a.addr = m.Conn, m.Addr
	a.step()
}

// step sends the next fetch if one is due: a probe of the high watermark
// first, then fetches from the cursor while the prefetch bound allows.
func (a *partitionReader) step() {
	cur := a.cur
	if cur.ended || a.inflight != 0 || a.waiting || a.asking {
		return
	}
	if a.conn == nil {
		a.askLeader(false)
		return
	}
	if !cur.resolved {
		a.fetch(0, 1, 0, true)
		return
	}
	if !a.cfg.Follow && cur.next >= cur.end {
		cur.ended = true
		a.cfg.Sink.End(a.cfg.Partition)
		return
	}
	room := a.cfg.PrefetchBytes - cur.buffered.Load()
	if room <= 0 {
		// Park, then look again: a Release between the first look and
		// the flag would otherwise go unnoticed.
		cur.parked.Store(true)
		if room = a.cfg.PrefetchBytes - cur.buffered.Load(); room <= 0 {
			return
		}
		if !cur.parked.CompareAndSwap(true, false) {
			return // a ReadResume is on its way
		}
	}
	maxBytes := int64(a.cfg.MaxFetchBytes)
	if room < maxBytes {
		maxBytes = room
	}
	wait := a.cfg.Poll
	if !a.cfg.Follow {
		wait = 0
	}
	a.fetch(cur.next, int32(maxBytes), wait, false)
}

func (a *partitionReader) fetch(offset int64, maxBytes int32, wait time.Duration, probe bool) {
	req := wire.FetchRequest{Topic: a.cfg.Topic, PartitionID: uint32(a.cfg.Partition), FetchOffset: uint64(offset),
		MaxBytes: uint32(maxBytes), TimeoutMs: uint32(wait / time.Millisecond)}
	id := readerIDs.next()
	a.inflight, a.probe, a.sentAt = id, probe, time.Now()
	deadline := a.cfg.RequestTimeout + wait
	a.sys.Root.Send(a.conn, &Request{
		ReqType:  wire.TypeFetch,
		Body:     req.Append(make([]byte, 0, req.Size())),
		Deadline: a.sentAt.Add(deadline),
		ReplyTo:  a.self,
		ID:       id,
		Cancel:   a.quit, // closed when this incarnation ends: Close ends the long poll
	})
	a.after(deadline+time.Second, &readExpire{gen: a.gen, id: id})
}

func (a *partitionReader) onResponse(m *Response) {
	var resp wire.FetchResponse
	err := m.Err
	if err == nil {
		if err = resp.Unmarshal(m.Body); err == nil {
			err = resp.Err()
		}
	}
	if err == nil && resp.HighWatermark > math.MaxInt64 {
		// No offset is that large: a broker that says so cannot be read.
		err = fmt.Errorf("%w: high watermark %d is beyond any offset", errBadAnswer, resp.HighWatermark)
	}
	if err != nil {
		if re, ok := errors.AsType[*wire.ResponseError](err); ok && re.Err == wire.ErrUnknownServerError && strings.HasPrefix(re.Message, "offset out of range") {
			// The development broker's answer to a fetch beyond the high
			// watermark (Kafka's code 1): retrying cannot help.
			a.fail(&OffsetOutOfRangeError{Topic: a.cfg.Topic, Partition: a.cfg.Partition, Offset: a.cur.next, HighWatermark: int64(resp.HighWatermark)})
			return
		}
		err = fmt.Errorf("rustmq: fetch %s/%d from %s: %w", a.cfg.Topic, a.cfg.Partition, m.Addr, err)
		if !retriable(err) {
			a.fail(err)
			return
		}
		a.retry(err)
		return
	}
	a.attempts = 0
	a.cur.lastErr.Store(nil)
	cur := a.cur
	hw := int64(resp.HighWatermark)
	cur.hw.Store(hw)
	if a.probe {
		a.resolve(hw)
		a.step()
		return
	}
	if n := len(resp.Records); n > 0 {
		var bytes int64
		for i := range resp.Records {
			bytes += int64(resp.Records[i].Size())
		}
		first := cur.next
		cur.buffered.Add(bytes)
		cur.next += int64(n)
		a.cfg.Sink.Records(a.cfg.Partition, first, resp.Records, bytes)
		a.step()
		return
	}
	// Nothing new. A broker that long-polls held the fetch for Poll; one
	// that answers at once (upstream) gets the rest of Poll as a pause.
	if rest := a.cfg.Poll - time.Since(a.sentAt); rest > a.cfg.Poll/10 && rest > time.Millisecond {
		a.waiting = true
		a.after(rest, &readPollTick{gen: a.gen})
		return
	}
	a.step()
}

// resolve fixes the start position from the high watermark hw.
func (a *partitionReader) resolve(hw int64) {
	cur := a.cur
	switch s := cur.start; {
	case s >= 0:
		if s > hw {
			a.fail(&OffsetOutOfRangeError{Topic: a.cfg.Topic, Partition: a.cfg.Partition, Offset: s, HighWatermark: hw})
			return
		}
		cur.next = s
	default:
		back := StartLatest - s // records before the end
		cur.next = max(hw-back, 0)
	}
	cur.end = hw
	cur.resolved = true
	cur.startAt.Store(cur.next)
	a.cfg.Sink.Started(a.cfg.Partition, cur.next)
}

// retry schedules another attempt after a backoff; the leader is asked
// again first, fresh, since "not leader" and lost connections are the
// usual reasons.
func (a *partitionReader) retry(err error) {
	a.attempts++
	a.cur.lastErr.Store(&err)
	a.conn = nil
	d := a.cfg.RetryBackoff.Delay(a.attempts, nil)
	a.cfg.Logger.Warn("rustmq: fetch failed, retrying", slog.String("topic", a.cfg.Topic), slog.Int("partition", int(a.cfg.Partition)),
		slog.Int("attempt", a.attempts), slog.Duration("backoff", d), slog.Any("error", err))
	a.waiting = true
	a.after(d, &readRetryTick{gen: a.gen})
}

func (a *partitionReader) fail(err error) {
	if a.cur.ended {
		return
	}
	a.cur.ended = true
	a.cur.lastErr.Store(&err)
	a.cfg.Sink.Fail(a.cfg.Partition, err)
}
