package runtime

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/metric"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Defaults of [ReaderConfig], applied to zero fields.
const (
	DefaultReaderPoll          = 500 * time.Millisecond
	DefaultReaderFetchBytes    = 1 << 20
	DefaultReaderPrefetchBytes = 4 << 20
	// MaxReaderPoll is the longest Poll: the broker's wait is a u32 of
	// milliseconds, and a fetch waits at most that long plus the
	// request timeout.
	MaxReaderPoll = time.Hour
)

// StartOffset says where a [Reader] starts in a partition. A value >= 0 is
// an offset (StartOffset(42) starts at offset 42, the zero value
// [StartEarliest] at the first record); [StartLatest] starts after the last
// record present when the reader starts; [StartFromEnd](n) starts n records
// before that.
type StartOffset int64

const (
	// StartEarliest starts at offset 0, the first record of a partition
	// (RustMQ partitions start at 0, and the protocol has no request for a
	// later log start). The zero value.
	StartEarliest StartOffset = 0
	// StartLatest starts at the high watermark the reader finds when it
	// starts: only records written afterwards are read.
	StartLatest = StartOffset(actors.StartLatest)
)

// StartFromEnd returns the start n records before the high watermark the
// reader finds (never before offset 0); StartFromEnd(0) is StartLatest.
func StartFromEnd(n int64) StartOffset {
	if n < 0 {
		n = 0
	}
	return StartLatest - StartOffset(n)
}

// String returns "earliest", "latest", "end-N" or the offset.
func (s StartOffset) String() string {
	switch {
	case s == StartEarliest:
		return "earliest"
	case s == StartLatest:
		return "latest"
	case s < StartLatest:
		return "end-" + strconv.FormatInt(int64(StartLatest-s), 10)
	}
	return strconv.FormatInt(int64(s), 10)
}

// ReaderConfig configures a [Reader]. The zero value reads every partition
// from the first record up to the end present when the reader starts.
type ReaderConfig struct {
	// Partitions lists the partitions to read. Default nil: all of them,
	// including partitions the topic gains while the reader follows it.
	Partitions []int32
	// Start is where reading starts in each partition. Default
	// StartEarliest.
	Start StartOffset
	// Offsets overrides Start for single partitions, for instance to
	// resume where an earlier reader stopped (the last offset seen + 1).
	// Default none.
	Offsets map[int32]StartOffset
	// Follow keeps reading at the end of each partition, waiting for new
	// records. Default false: the reader stops at the high watermark each
	// partition had when the reader started, and Next then returns
	// ErrEndOfPartitions.
	Follow bool
	// Poll is how long a fetch at the end of a partition waits for new
	// records (the Fetch request's timeout_ms, a long poll on the
	// development broker). Against a broker that answers at once
	// (upstream RustMQ has no long poll) it is the pause between two empty
	// fetches, so it is also the delay before a new record is seen there.
	// Default 500ms; at most MaxReaderPoll.
	Poll time.Duration
	// MaxFetchBytes is the max_bytes of one fetch: the summed record
	// sizes a broker answers with (it still answers with one record when
	// the first is larger). Default 1 MiB.
	MaxFetchBytes int
	// PrefetchBytes bounds, per partition, the bytes of records fetched
	// and not yet returned by Next. A partition's reader sends no fetch
	// while its records reach the bound and never asks for more than the
	// room left, so memory stays within about PrefetchBytes per partition
	// (plus one record larger than the room). Default 4 MiB.
	PrefetchBytes int
	// MaxDecodedBytes bounds the decompressed size of one value; a larger
	// one is reported as a *RecordError. Default
	// compress.DefaultMaxDecodedBytes (64 MiB).
	MaxDecodedBytes int
	// RetryBackoff spaces the retries of failed fetches (connection loss,
	// not leader, timeouts). Default: the runtime's RetryBackoff.
	RetryBackoff supervision.Backoff
	// Supervision is the strategy that restarts a partition's reader actor
	// when it panics; a restart resumes at the same position, and a
	// reader given up on fails the Reader with a *ReadError. Default:
	// one-for-one, 100ms doubling to 5s with jitter, 10 restarts a minute.
	Supervision supervision.Config
}

// ReadRecord is one record returned by [Reader.Next]. Its slices are the
// caller's: the reader never reuses them.
type ReadRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	// Key is nil for a keyless record.
	Key []byte
	// Value is the value with its compression undone.
	Value []byte
	// Headers are the record's headers without the rmq-codec header that
	// marked a compressed value (the idempotence and trace headers a
	// producer of this runtime writes are kept).
	Headers []Header
	// Timestamp is the record's timestamp (millisecond precision).
	Timestamp time.Time
}

// Reader errors for errors.Is.
var (
	// ErrEndOfPartitions: a reader that does not follow has returned every
	// record up to the end each partition had when it started. It wraps
	// io.EOF, so errors.Is(err, io.EOF) holds too.
	ErrEndOfPartitions = fmt.Errorf("rustmq: reader reached the end of its partitions: %w", io.EOF)
	// ErrOffsetOutOfRange is matched by *OffsetOutOfRangeError.
	ErrOffsetOutOfRange = actors.ErrOffsetOutOfRange
	// errReaderClosed is what Next returns after Close; it matches
	// ErrClosed.
	errReaderClosed error = readerClosedError{}
)

type readerClosedError struct{}

func (readerClosedError) Error() string        { return "rustmq: reader closed" }
func (readerClosedError) Is(target error) bool { return target == ErrClosed }

// OffsetOutOfRangeError says a reader was asked to start at an offset
// beyond a partition's high watermark.
type OffsetOutOfRangeError = actors.OffsetOutOfRangeError

// ReadError is the failure that ended a [Reader]: which partition, and
// why (errors.Is and errors.As see the cause: *OffsetOutOfRangeError,
// *AuthorizationError-like broker codes through wire.Err* values, a
// transport error).
type ReadError struct {
	Topic     string
	Partition int32
	Err       error
}

// Error implements the error interface.
func (e *ReadError) Error() string {
	return fmt.Sprintf("rustmq: read %s/%d: %v", e.Topic, e.Partition, e.Err)
}

// Unwrap returns the cause.
func (e *ReadError) Unwrap() error { return e.Err }

// RecordError says one record's value could not be decoded: its rmq-codec
// header names an unknown codec, the value is corrupt, or it decodes to
// more than MaxDecodedBytes. Next returns it with the record as fetched
// (value still compressed, rmq-codec header kept); the next call goes on
// with the following record.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

// Error implements the error interface.
func (e *RecordError) Error() string {
	return fmt.Sprintf("rustmq: record %s/%d@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns the decoder's error.
func (e *RecordError) Unwrap() error { return e.Err }

// Reader reads records of one topic's partitions with Fetch requests, in
// offset order within each partition and interleaving partitions batch by
// batch. It is not a consumer-group client: it joins no group, commits no
// offset and shares no partitions with other readers; where to resume is
// the caller's to remember (ReadRecord.Offset + 1, handed back through
// ReaderConfig.Offsets). This runtime sends no consumer-group requests
// (upstream RustMQ's group requests 4 to 9 are not part of its protocol,
// and the development broker refuses them).
//
// Inside, each partition has its own reader actor under a supervisor
// (ReaderConfig.Supervision): it asks the metadata actor for the
// partition's leader, fetches from it through the leader's connection
// actor, retries failures with backoff, and keeps at most PrefetchBytes of
// fetched records waiting for Next.
//
// Next is safe for concurrent use, though records then reach the callers
// in no particular order; Close may be called at any time.
type Reader struct {
	rt    *Runtime
	topic string
	cfg   ReaderConfig
	group *actor.PID

	mu     sync.Mutex
	parts  map[int32]*partBuf
	order  []int32 // partitions being read, sorted
	ready  []*partBuf
	active int // partitions neither ended nor failed
	err    error
	closed bool
	gone   bool // the group actor stopped
	// wake is closed, and cleared, when something a caller of Next waits
	// for happens (records, an end, a failure, Close); nil while nobody
	// waits. Closing wakes every waiting caller, not only one.
	wake    chan struct{}
	goneCh  chan struct{}
	started sync.Once

	metrics *readerMetrics // nil without a MeterProvider
}

type partBuf struct {
	id      int32
	cur     *actors.ReadCursor
	chunks  []chunk
	queued  bool  // in Reader.ready
	next    int64 // offset of the record Next returns next
	started bool  // the start offset is resolved
	done    bool
	attrs   metric.MeasurementOption // the partition's metric attributes
}

type chunk struct {
	first int64
	recs  []wire.Record
	i     int
}

var readerN atomic.Int64

// NewReader starts a reader of topic and waits until it knows the topic's
// partitions and where reading starts in each (for StartLatest and
// StartFromEnd, the high watermark at that moment): every record written
// after NewReader returns is read. Errors: ErrEmptyTopic; a *ConfigError (ErrInvalidConfig)
// naming a bad field of cfg (or, in upstream mode, the missing
// StaticPartitions entry of topic); ErrUnknownTopic when no broker knows the topic
// (and Config.StaticPartitions has no count for it); ErrInvalidPartition
// for a partition the topic does not have (named in Partitions or
// Offsets); ErrClosed after the runtime's Close; ctx's error (wrapped) if
// ctx ends first, for instance while no broker can be reached.
func (r *Runtime) NewReader(ctx context.Context, topic string, cfg ReaderConfig) (*Reader, error) {
	if topic == "" {
		return nil, ErrEmptyTopic
	}
	if err := r.checkStatic(topic); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults(&r.cfg)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	rd := &Reader{rt: r, topic: topic, cfg: cfg, parts: make(map[int32]*partBuf), goneCh: make(chan struct{})}
	if r.cfg.MeterProvider != nil {
		if rd.metrics, err = newReaderMetrics(r, rd); err != nil {
			return nil, err
		}
	}
	type readyMsg struct {
		parts []int32
		err   error
	}
	readyCh := make(chan readyMsg, 1)
	sc := cfg.Supervision
	user := sc.Observer
	sc.Observer = func(ev supervision.Event) {
		if ev.GaveUp && ev.Child != nil {
			rd.gaveUp(ev)
		}
		if user != nil {
			user(ev)
		}
	}
	gcfg := actors.ReaderGroupConfig{
		Topic:      topic,
		Metadata:   r.metadata,
		Partitions: cfg.Partitions,
		NewPartition: func(p int32) *actor.Props {
			return actors.NewPartitionReaderProps(actors.PartitionReaderConfig{
				Topic: topic, Partition: p, Metadata: r.metadata, Cursor: rd.addPartition(p), Sink: (*readerSink)(rd),
				Follow: cfg.Follow, Poll: cfg.Poll, MaxFetchBytes: int32(cfg.MaxFetchBytes), PrefetchBytes: int64(cfg.PrefetchBytes),
				RequestTimeout: r.cfg.RequestTimeout, RetryBackoff: cfg.RetryBackoff, Logger: r.log,
			})
		},
		Ready: func(parts []int32, err error) {
			rd.started.Do(func() { readyCh <- readyMsg{parts, err} })
		},
		Stopped: rd.groupStopped,
	}
	name := "reader-" + strconv.FormatInt(readerN.Add(1), 10)
	rd.group, err = r.spawn(r.readers, actors.NewReaderGroupProps(gcfg, supervision.NewStrategy(sc)), name)
	if err != nil {
		rd.metrics.unregister()
		return nil, err
	}
	select {
	case m := <-readyCh:
		if m.err != nil {
			rd.stop()
			return nil, fmt.Errorf("rustmq: reader of %q: %w", topic, m.err)
		}
		for p := range cfg.Offsets {
			if !slices.Contains(m.parts, p) {
				rd.stop()
				return nil, fmt.Errorf("rustmq: reader of %q: %w: Offsets names partition %d, the topic has %d", topic, ErrInvalidPartition, p, len(m.parts))
			}
		}
		// Where each partition starts (StartLatest is the high watermark
		// now) is fixed before NewReader returns, so that a record written
		// after the return is read.
		if err := rd.waitStarted(ctx, m.parts); err != nil {
			rd.stop()
			return nil, err
		}
		return rd, nil
	case <-rd.goneCh:
		rd.stop()
		return nil, ErrClosed
	case <-ctx.Done():
		rd.stop()
		return nil, fmt.Errorf("rustmq: reader of %q: waiting for the topic's metadata: %w", topic, context.Cause(ctx))
	}
}

// waitStarted waits until the start offset of each of parts is resolved
// (or its reading failed, which Next reports), the reader closed, or ctx
// ends.
func (rd *Reader) waitStarted(ctx context.Context, parts []int32) error {
	for {
		rd.mu.Lock()
		waiting := false
		for _, p := range parts {
			if pb := rd.parts[p]; pb != nil && !pb.started && !pb.done {
				waiting = true
				break
			}
		}
		if !waiting || rd.closed || rd.gone {
			rd.mu.Unlock()
			return nil
		}
		wake := rd.waitLocked()
		rd.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("rustmq: reader of %q: waiting for the start offsets: %w", rd.topic, rd.waitErr(ctx))
		}
	}
}

// withDefaults validates cfg and fills in defaults from cfg and the
// runtime.
func (cfg ReaderConfig) withDefaults(rc *Config) (ReaderConfig, error) {
	if cfg.Partitions != nil {
		seen := make(map[int32]bool, len(cfg.Partitions))
		for _, p := range cfg.Partitions {
			if p < 0 || seen[p] {
				return cfg, configErr("Partitions", cfg.Partitions, "partitions must be distinct and not negative")
			}
			seen[p] = true
		}
		if len(cfg.Partitions) == 0 {
			return cfg, configErr("Partitions", cfg.Partitions, "empty: use nil for every partition")
		}
		cfg.Partitions = slices.Clone(cfg.Partitions)
		slices.Sort(cfg.Partitions)
	}
	for p := range cfg.Offsets {
		if p < 0 || (cfg.Partitions != nil && !slices.Contains(cfg.Partitions, p)) {
			return cfg, configErr(fmt.Sprintf("Offsets[%d]", p), cfg.Offsets[p], "not a partition being read")
		}
	}
	switch {
	case cfg.Poll < 0 || cfg.Poll > MaxReaderPoll:
		return cfg, configErr("Poll", cfg.Poll, fmt.Sprintf("must be between 0 and %v", MaxReaderPoll))
	case cfg.Poll == 0:
		cfg.Poll = DefaultReaderPoll
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{{"MaxFetchBytes", &cfg.MaxFetchBytes, DefaultReaderFetchBytes}, {"PrefetchBytes", &cfg.PrefetchBytes, DefaultReaderPrefetchBytes}, {"MaxDecodedBytes", &cfg.MaxDecodedBytes, compress.DefaultMaxDecodedBytes}} {
		switch {
		case *f.v < 0 || *f.v > math.MaxInt32:
			return cfg, configErr(f.name, *f.v, fmt.Sprintf("must be between 0 and %d", math.MaxInt32))
		case *f.v == 0:
			*f.v = f.def
		}
	}
	rb, err := retryBackoff(cfg.RetryBackoff, rc.RetryBackoff, "RetryBackoff")
	if err != nil {
		return cfg, err
	}
	cfg.RetryBackoff = rb
	if cfg.Supervision.Backoff == (supervision.Backoff{}) && cfg.Supervision.MaxRestarts == 0 && cfg.Supervision.Window == 0 {
		cfg.Supervision.Backoff = supervision.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: true}
	}
	if cfg.Supervision.Logger == nil {
		cfg.Supervision.Logger = rc.Logger
	}
	if err := cfg.Supervision.Validate(); err != nil {
		return cfg, &ConfigError{Field: "Supervision", Value: cfg.Supervision.Kind, Reason: err.Error(), Err: err}
	}
	return cfg, nil
}

// Topic returns the topic being read.
func (rd *Reader) Topic() string { return rd.topic }

// Partitions returns the partitions being read, sorted.
func (rd *Reader) Partitions() []int32 {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return slices.Clone(rd.order)
}

// Next returns the next record of any partition being read, waiting for
// one until ctx ends. Errors: ErrEndOfPartitions when not following and
// every partition has been read to its end; a *RecordError, with the
// record, for a value that cannot be decoded; a *ReadError for a failure
// that ended the reader (an offset out of range, a fetch the broker
// refuses, a partition reader that kept panicking), returned by every
// later call too; an error matching ErrClosed after Close or the runtime's
// Close; ctx's error (wrapped) when ctx ends first, naming the fetch
// failure a partition is retrying after, if any.
func (rd *Reader) Next(ctx context.Context) (*ReadRecord, error) {
	for {
		rd.mu.Lock()
		if rd.err != nil {
			err := rd.err
			rd.mu.Unlock()
			return nil, err
		}
		if rd.closed || (rd.gone && len(rd.ready) == 0) {
			rd.mu.Unlock()
			return nil, errReaderClosed
		}
		if len(rd.ready) > 0 {
			pb, rec, off := rd.popLocked()
			rd.mu.Unlock()
			if pid := pb.cur.Release(int64(rec.Size())); pid != nil {
				rd.rt.sys.Root.Send(pid, &actors.ReadResume{})
			}
			rd.metrics.consumed(pb)
			return rd.decode(pb.id, off, rec)
		}
		if rd.active == 0 {
			rd.mu.Unlock()
			return nil, ErrEndOfPartitions
		}
		wake := rd.waitLocked()
		rd.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, rd.waitErr(ctx)
		}
	}
}

// popLocked takes the next record: from the partition at the head of the
// ready queue, which goes to the back once its current batch is used up.
func (rd *Reader) popLocked() (*partBuf, *wire.Record, int64) {
	pb := rd.ready[0]
	c := &pb.chunks[0]
	rec, off := &c.recs[c.i], c.first+int64(c.i)
	c.i++
	pb.next = off + 1
	if c.i == len(c.recs) {
		pb.chunks[0] = chunk{}
		pb.chunks = pb.chunks[1:]
		rd.ready[0] = nil
		rd.ready = rd.ready[1:]
		if len(pb.chunks) > 0 {
			rd.ready = append(rd.ready, pb)
		} else {
			pb.queued = false
		}
	}
	return pb, rec, off
}

// decode turns a fetched record into a ReadRecord, undoing compression.
func (rd *Reader) decode(p int32, off int64, rec *wire.Record) (*ReadRecord, error) {
	out := &ReadRecord{Topic: rd.topic, Partition: p, Offset: off, Key: rec.Key, Value: rec.Value, Headers: rec.Headers,
		Timestamp: time.UnixMilli(rec.Timestamp)}
	if _, ok := wire.HeaderValue(rec.Headers, wire.HeaderCodec); !ok {
		return out, nil
	}
	v, err := compress.DecodeValueMax(rec, rd.cfg.MaxDecodedBytes)
	if err != nil {
		return out, &RecordError{Topic: rd.topic, Partition: p, Offset: off, Err: err}
	}
	out.Value = v
	hs := make([]Header, 0, len(rec.Headers)-1)
	for _, h := range rec.Headers {
		if h.Key != wire.HeaderCodec {
			hs = append(hs, h)
		}
	}
	out.Headers = hs
	return out, nil
}

// waitErr is Next's error when ctx ends: ctx's, with the failure a
// partition is retrying after, if any.
func (rd *Reader) waitErr(ctx context.Context) error {
	err := context.Cause(ctx)
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for _, p := range rd.order {
		pb := rd.parts[p]
		if last := pb.cur.LastError(); last != nil && !pb.done {
			return fmt.Errorf("rustmq: read %s: %w (partition %d is retrying after: %w)", rd.topic, err, p, last)
		}
	}
	return fmt.Errorf("rustmq: read %s: %w", rd.topic, err)
}

// Close stops the reader's actors and returns once they are gone; records
// fetched and not yet returned are dropped. A fetch a broker holds in a
// long poll ends by itself within Poll. Next then returns an error
// matching ErrClosed. Close always returns nil; later calls do nothing.
func (rd *Reader) Close() error {
	rd.mu.Lock()
	if rd.closed {
		rd.mu.Unlock()
		return nil
	}
	rd.closed = true
	rd.signalLocked()
	rd.mu.Unlock()
	rd.stop()
	return nil
}

// stop stops the group actor and waits for it (bounded: a runtime that
// shuts down at the same time stops it too).
func (rd *Reader) stop() {
	rd.mu.Lock()
	gone := rd.gone
	rd.mu.Unlock()
	if !gone && rd.group != nil {
		done := make(chan struct{})
		rd.rt.sys.Root.Send(rd.rt.readers, &actors.StopChild{PID: rd.group, Done: done})
		select {
		case <-done:
		case <-rd.goneCh:
		case <-time.After(10 * time.Second):
			rd.rt.log.Error("rustmq: reader actors did not stop within 10s", "topic", rd.topic)
		}
	}
	rd.metrics.unregister()
}

// waitLocked returns the channel signalLocked closes next, under rd.mu.
func (rd *Reader) waitLocked() <-chan struct{} {
	if rd.wake == nil {
		rd.wake = make(chan struct{})
	}
	return rd.wake
}

// signalLocked wakes every caller waiting in Next, under rd.mu.
func (rd *Reader) signalLocked() {
	if rd.wake != nil {
		close(rd.wake)
		rd.wake = nil
	}
}

// addPartition returns the cursor of partition p, creating its buffer on
// first use (a restarted group asks again and gets the same cursor).
func (rd *Reader) addPartition(p int32) *actors.ReadCursor {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if pb := rd.parts[p]; pb != nil {
		return pb.cur
	}
	start, ok := rd.cfg.Offsets[p]
	if !ok {
		start = rd.cfg.Start
	}
	pb := &partBuf{id: p, cur: actors.NewReadCursor(int64(start)), next: -1, attrs: rd.metrics.partitionAttrs(rd.topic, p)}
	rd.parts[p] = pb
	rd.order = append(rd.order, p)
	slices.Sort(rd.order)
	rd.active++
	return pb.cur
}

func (rd *Reader) groupStopped() {
	rd.mu.Lock()
	if rd.gone {
		rd.mu.Unlock()
		return
	}
	rd.gone = true
	close(rd.goneCh)
	rd.signalLocked()
	rd.mu.Unlock()
}

// gaveUp fails the reader when the supervisor gave up on a partition's
// reader actor.
func (rd *Reader) gaveUp(ev supervision.Event) {
	name := ev.Child.Id[strings.LastIndexByte(ev.Child.Id, '/')+1:]
	p, err := strconv.Atoi(strings.TrimPrefix(name, "p"))
	if err != nil {
		return
	}
	(*readerSink)(rd).Fail(int32(p), fmt.Errorf("rustmq: partition reader failed %d times, supervisor gave up: %v", ev.Restarts, ev.Reason))
}

// readerSink is the Reader as the partition readers see it.
type readerSink Reader

var _ actors.ReadSink = (*readerSink)(nil)

// Started marks a partition's start offset as resolved.
func (s *readerSink) Started(p int32, _ int64) {
	rd := (*Reader)(s)
	rd.mu.Lock()
	if pb := rd.parts[p]; pb != nil {
		pb.started = true
	}
	rd.signalLocked()
	rd.mu.Unlock()
}

// Records queues a fetched batch.
func (s *readerSink) Records(p int32, first int64, recs []wire.Record, _ int64) {
	rd := (*Reader)(s)
	rd.mu.Lock()
	pb := rd.parts[p]
	if pb == nil || pb.done || rd.closed {
		rd.mu.Unlock()
		return
	}
	pb.chunks = append(pb.chunks, chunk{first: first, recs: recs})
	if !pb.queued {
		pb.queued = true
		rd.ready = append(rd.ready, pb)
	}
	rd.signalLocked()
	rd.mu.Unlock()
}

// End marks a partition read to its end.
func (s *readerSink) End(p int32) {
	rd := (*Reader)(s)
	rd.mu.Lock()
	if pb := rd.parts[p]; pb != nil && !pb.done {
		pb.done = true
		rd.active--
	}
	rd.signalLocked()
	rd.mu.Unlock()
}

// Fail ends the reader with err.
func (s *readerSink) Fail(p int32, err error) {
	rd := (*Reader)(s)
	rd.mu.Lock()
	if pb := rd.parts[p]; pb != nil && !pb.done {
		pb.done = true
		rd.active--
	}
	if rd.err == nil {
		rd.err = &ReadError{Topic: rd.topic, Partition: p, Err: err}
	}
	rd.signalLocked()
	rd.mu.Unlock()
}
