package broker

import (
	"io"
	"math"
	"slices"
	"sync"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Request buffers. Every request is read whole before it is handled, and
// under load a Produce request is ~125 KB: growing a fresh slice for each
// (as io.ReadAll does, from 512 bytes, clearing every new array) cost the
// in-process benchmark ~8% of its CPU plus the garbage. serveStream reads
// into a buffer from requestBufs instead and hands it back once the answer
// has been sent, when no part of the frame is referenced any more.

// maxPooledRequest is the largest buffer requestBufs keeps: a rare huge
// request should not pin its memory in every pooled buffer it passes through.
const maxPooledRequest = 4 << 20

// minRequestRead is the first read's room, io.ReadAll's starting size.
const minRequestRead = 512

// requestBuf holds a pooled buffer; the pool stores pointers so that Put
// does not allocate.
type requestBuf struct{ b []byte }

var requestBufs = sync.Pool{New: func() any { return new(requestBuf) }}

// readRequest reads r to EOF into a pooled buffer, but never more than
// limit+1 bytes, as io.ReadAll(io.LimitReader(r, limit+1)) does:
// once limit+1 bytes are in, it returns them without reading further, so
// the caller sees a frame longer than limit and refuses it. The frame
// aliases buf; release buf when done with the frame.
func readRequest(r io.Reader, limit int64) (frame []byte, buf *requestBuf, err error) {
	buf = requestBufs.Get().(*requestBuf)
	b := buf.b[:0]
	left := limit + 1 // as LimitReader's N
	if left <= 0 {
		left = math.MaxInt64 // limit+1 overflowed: no limit, not "read nothing"
	}
	for left > 0 {
		if len(b) == cap(b) {
			// Double like append would, but never past what may still come.
			grow := int64(max(len(b), minRequestRead))
			b = slices.Grow(b, int(min(grow, left)))
		}
		room := b[len(b):min(int64(cap(b)), int64(len(b))+left)]
		n, rerr := r.Read(room)
		b = b[:len(b)+n]
		left -= int64(n)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	buf.b = b
	return b, buf, err
}

// release returns buf to the pool unless it grew too large to keep.
func (buf *requestBuf) release() {
	if cap(buf.b) > maxPooledRequest {
		return
	}
	requestBufs.Put(buf)
}

// recyclableRequest reports whether nothing refers to a frame of type typ
// once its handler has returned, so its buffer may be reused. Produce
// decodes records that alias the frame, but Log.Append copies them, and the
// rest of the handler (fault rules, idempotence, error texts) keeps only
// copied strings and numbers; a batch held in the reorder buffer waits
// inside the handler. Fetch, Metadata and Capabilities keep only decoded
// numbers and strings, which wire copies. Authenticate is left out: its
// payload, which aliases the frame, goes to an authentication session that
// lives on with the connection. The sessions copy what they keep today
// (SCRAM converts the payload to a string), but nothing in authsrv promises
// it, and the request is too rare for the buffer to matter.
func recyclableRequest(typ byte) bool {
	switch typ {
	case wire.TypeProduce, wire.TypeFetch, wire.TypeMetadata, wire.TypeCapabilities:
		return true
	}
	return false
}
