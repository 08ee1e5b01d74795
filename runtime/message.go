package runtime

import (
	"encoding/json"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Header is one message header: a non-empty UTF-8 key and opaque bytes.
type Header = wire.Header

// Message is one message to produce. It is a plain struct: build it as a
// literal or with [NewMessage]. The producer keeps the Key, Payload and
// Headers slices until the message's result is known; do not modify them
// before that.
type Message struct {
	// Topic overrides the producer's topic when set.
	Topic string
	// Key selects the partition (murmur2, as Kafka's default partitioner)
	// unless Partition is explicit; nil means keyless (sticky partitioning).
	// An empty non-nil key is a key.
	Key []byte
	// Payload is the message's value.
	Payload []byte
	// Headers are sent with the message. The keys rmq-pid, rmq-seq and
	// rmq-codec are the runtime's: a message carrying rmq-pid or rmq-seq
	// is refused with ErrInvalidMessage; traceparent is written only when
	// absent.
	Headers []Header
	// Timestamp is the message's time; zero means the time Send accepts it.
	Timestamp time.Time
	// Partition is used when ExplicitPartition is true.
	Partition int32
	// ExplicitPartition sends the message to Partition instead of choosing.
	ExplicitPartition bool

	err error // a build error, reported by Send
}

// MessageBuilder builds a [Message] fluently: NewMessage().Topic("t").
// KeyString("k").PayloadString("v").Build(). A builder is not safe for
// concurrent use.
type MessageBuilder struct {
	m Message
}

// NewMessage starts a message builder.
func NewMessage() *MessageBuilder { return &MessageBuilder{} }

// Topic sets the topic, overriding the producer's.
func (b *MessageBuilder) Topic(topic string) *MessageBuilder { b.m.Topic = topic; return b }

// Key sets the key bytes.
func (b *MessageBuilder) Key(key []byte) *MessageBuilder { b.m.Key = key; return b }

// KeyString sets the key from a string.
func (b *MessageBuilder) KeyString(key string) *MessageBuilder { b.m.Key = []byte(key); return b }

// Payload sets the payload bytes.
func (b *MessageBuilder) Payload(p []byte) *MessageBuilder { b.m.Payload = p; return b }

// PayloadString sets the payload from a string.
func (b *MessageBuilder) PayloadString(p string) *MessageBuilder { b.m.Payload = []byte(p); return b }

// PayloadJSON sets the payload to v marshalled as JSON. A marshalling
// failure is reported by Build (and by Send if the message is sent anyway)
// as a *PayloadError.
func (b *MessageBuilder) PayloadJSON(v any) *MessageBuilder {
	p, err := json.Marshal(v)
	if err != nil {
		b.m.err = &PayloadError{Err: err}
		return b
	}
	b.m.Payload = p
	return b
}

// Header appends a header.
func (b *MessageBuilder) Header(key string, value []byte) *MessageBuilder {
	b.m.Headers = append(b.m.Headers, Header{Key: key, Value: value})
	return b
}

// Timestamp sets the message's time.
func (b *MessageBuilder) Timestamp(t time.Time) *MessageBuilder { b.m.Timestamp = t; return b }

// Partition sends the message to partition p of its topic.
func (b *MessageBuilder) Partition(p int32) *MessageBuilder {
	b.m.Partition, b.m.ExplicitPartition = p, true
	return b
}

// Build returns the message, or the first error met while building it
// (a *PayloadError). The builder may be reused afterwards; the messages it
// built share nothing but the byte slices given to it.
func (b *MessageBuilder) Build() (*Message, error) {
	m := b.m
	m.Headers = append([]Header(nil), b.m.Headers...)
	if m.err != nil {
		return &m, m.err
	}
	return &m, nil
}

// Result is the outcome of one message.
type Result struct {
	// Topic and Partition the message went to (Partition -1 if it never
	// reached one).
	Topic     string
	Partition int32
	// Offset is the message's offset in the partition; -1 with AcksNone or
	// on failure.
	Offset int64
	// Timestamp is the message's timestamp as sent.
	Timestamp time.Time
	// Message is the message this result belongs to.
	Message *Message
	// Err is the message's failure, nil on success. Send and SendAsync also
	// return it separately; SendBatch reports it here, per message.
	Err error
}

// FirstErr returns the first error among the results of SendBatch, or nil.
func FirstErr(results []*Result) error {
	for _, r := range results {
		if r != nil && r.Err != nil {
			return r.Err
		}
	}
	return nil
}
