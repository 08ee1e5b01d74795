package actors

import (
	"encoding/binary"

	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// This file writes produce request bodies piece by piece, in the bincode
// layout of wire.ProduceRequest, so that the router can append each record
// to its batch's body as the record joins the batch:
//
//	topic: String | partition_id: u32 | records: u64 count, Record... | acks | timeout_ms: u32
//
// The record count is written as 0 and patched when the batch closes, when
// the acks and timeout are appended. On the first record of an idempotent
// batch the rmq-pid and rmq-seq headers are written last among its headers,
// with zero values that are patched in place when the batch is stamped (and
// again if it is ever restamped), so the body is never re-encoded for it.

// IdempotenceHeadersSize is what the rmq-pid and rmq-seq headers
// (eight-byte values) add to the first record of an idempotent batch: two
// header entries with their key and value lengths.
const IdempotenceHeadersSize = 2*(8+8+8) + len(wire.HeaderProducerID) + len(wire.HeaderSequence)

const idemHeadersSize = IdempotenceHeadersSize

// Offsets of the stamped values from the end of an idempotent first
// record: its last bytes are [..., rmq-pid value, len, "rmq-seq", len,
// rmq-seq value, timestamp].
const (
	seqFromEnd = 8 + 8
	pidFromEnd = seqFromEnd + 8 + len(wire.HeaderSequence) + 8 + 8
)

// traceparentSize is the length of a W3C traceparent value (version 00).
const traceparentSize = 55

// headerSize is what a header adds to a record: key and value lengths and
// bytes.
func headerSize(key string, valueLen int) int { return 16 + len(key) + valueLen }

// PartsSize returns the encoded size of a record with parts p, with the
// idempotence headers when idem. Brokers count this against their maximum
// message bytes.
func PartsSize(p *RecordParts, idem bool) int {
	n := RecordSize(p.Key, p.Keyed, len(p.Value), p.Headers, p.Codec, &p.Trace)
	if idem {
		n += idemHeadersSize
	}
	return n
}

// RecordSize is [PartsSize] without the idempotence headers, from the
// parts one by one: what a caller that only needs the size computes
// without building a RecordParts. tc may be nil.
func RecordSize(key []byte, keyed bool, valueLen int, headers []wire.Header, codec string, tc *trace.SpanContext) int {
	n := 1 + 8 + valueLen + 8 + 8 // key option, value, header count, timestamp
	if keyed {
		n += 8 + len(key)
	}
	for i := range headers {
		n += headerSize(headers[i].Key, len(headers[i].Value))
	}
	if codec != "" {
		n += headerSize(wire.HeaderCodec, len(codec))
	}
	if tc != nil && tc.IsValid() {
		n += headerSize(wire.HeaderTraceparent, traceparentSize)
		if ts := tc.TraceState(); ts.Len() > 0 {
			n += headerSize(wire.HeaderTracestate, len(ts.String()))
		}
	}
	return n
}

func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendBytes(b []byte, v []byte) []byte {
	return append(appendU64(b, uint64(len(v))), v...)
}

func appendStr(b []byte, s string) []byte {
	return append(appendU64(b, uint64(len(s))), s...)
}

// appendParts appends the record p to b, with zeroed idempotence headers
// when idem.
func appendParts(b []byte, p *RecordParts, idem bool) []byte {
	if p.Keyed {
		b = append(b, 1)
		b = appendBytes(b, p.Key)
	} else {
		b = append(b, 0)
	}
	b = appendBytes(b, p.Value)
	n := len(p.Headers)
	if p.Codec != "" {
		n++
	}
	var tracestate string
	if p.Trace.IsValid() {
		n++
		if ts := p.Trace.TraceState(); ts.Len() > 0 {
			tracestate = ts.String()
			n++
		}
	}
	if idem {
		n += 2
	}
	b = appendU64(b, uint64(n))
	for i := range p.Headers {
		b = appendStr(b, p.Headers[i].Key)
		b = appendBytes(b, p.Headers[i].Value)
	}
	if p.Codec != "" {
		b = appendStr(b, wire.HeaderCodec)
		b = appendStr(b, p.Codec)
	}
	if p.Trace.IsValid() {
		b = appendStr(b, wire.HeaderTraceparent)
		b = appendU64(b, traceparentSize)
		b = AppendTraceparent(b, p.Trace)
		if tracestate != "" {
			b = appendStr(b, wire.HeaderTracestate)
			b = appendStr(b, tracestate)
		}
	}
	if idem {
		b = appendStr(b, wire.HeaderProducerID)
		b = appendU64(appendU64(b, 8), 0)
		b = appendStr(b, wire.HeaderSequence)
		b = appendU64(appendU64(b, 8), 0)
	}
	return appendU64(b, uint64(p.Timestamp))
}

// AppendTraceparent appends sc's W3C traceparent value (55 bytes, version
// 00, only the sampled flag kept) to b.
func AppendTraceparent(b []byte, sc trace.SpanContext) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, "00-"...)
	tid, sid := sc.TraceID(), sc.SpanID()
	for _, c := range tid {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	b = append(b, '-')
	for _, c := range sid {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	flags := byte(sc.TraceFlags()) & byte(trace.FlagsSampled)
	return append(b, '-', '0', hexDigits[flags])
}

// requestHead returns the bytes of a produce request body before its first
// record, the record count zero.
func requestHead(topic string, partition int32) []byte {
	b := appendStr(make([]byte, 0, 8+len(topic)+4+8), topic)
	b = binary.LittleEndian.AppendUint32(b, uint32(partition))
	return appendU64(b, 0)
}

// requestTail returns the bytes after the records: the acks and the
// timeout.
func requestTail(acks wire.Acks, timeoutMs uint32) []byte {
	b := acks.Append(nil)
	return binary.LittleEndian.AppendUint32(b, timeoutMs)
}

// stampAt writes pid and seq (big-endian, as docs/protocol.md defines the headers)
// into the first record of body, which ends at end.
func stampAt(body []byte, end int, pid, seq uint64) {
	binary.BigEndian.PutUint64(body[end-pidFromEnd:], pid)
	binary.BigEndian.PutUint64(body[end-seqFromEnd:], seq)
}
