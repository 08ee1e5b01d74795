package compress

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// appendWriter is an io.Writer that appends to b. Encoders write into it so
// that Compress can append to the caller's dst without an extra copy.
type appendWriter struct{ b []byte }

// Write implements io.Writer.
func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// streamEncoder is a pooled streaming compressor (gzip or LZ4 frame) with
// the buffer it writes into.
type streamEncoder struct {
	name string
	zw   interface {
		io.WriteCloser
		Reset(io.Writer)
	}
	out appendWriter
}

// compressStream appends the compression of src to dst with an encoder from
// pool: one complete gzip member or LZ4 frame per call.
func compressStream(pool *sync.Pool, dst, src []byte) ([]byte, error) {
	e := pool.Get().(*streamEncoder)
	e.out.b = dst
	e.zw.Reset(&e.out)
	_, err := e.zw.Write(src)
	if cerr := e.zw.Close(); err == nil {
		err = cerr
	}
	out, name := e.out.b, e.name
	e.out.b = nil
	pool.Put(e)
	if err != nil {
		return dst, fmt.Errorf("compress: %s: %w", name, err)
	}
	return out, nil
}

// errLimit marks a stream that produced more than the permitted bytes.
var errLimit = errors.New("limit exceeded")

// readBounded reads r to EOF into a new slice of at most maxSize bytes,
// starting with a buffer of hint bytes (clamped to [512, maxSize+1]). It
// never reads more than maxSize+1 bytes from r: when the stream holds more,
// it returns errLimit. Other errors come from r as they are.
func readBounded(r io.Reader, maxSize, hint int) ([]byte, error) {
	limit := int64(maxSize)
	if limit < math.MaxInt64 {
		limit++ // room to notice one byte too many
	}
	hint = max(hint, 512)
	if int64(hint) > limit {
		hint = int(limit)
	}
	buf := make([]byte, 0, hint)
	lr := io.LimitedReader{R: r, N: limit}
	var probe [1]byte
	for {
		if len(buf) == cap(buf) {
			// The buffer is full: probe for one more byte before growing, so
			// an exact size hint costs no extra allocation.
			n, err := lr.Read(probe[:])
			if n == 0 {
				if err == io.EOF {
					break
				}
				if err != nil {
					return nil, err
				}
				continue
			}
			newCap := min(int64(2*cap(buf)), limit)
			grown := make([]byte, len(buf), max(newCap, int64(len(buf)+1)))
			copy(grown, buf)
			buf = append(grown, probe[0])
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(buf) > maxSize {
		return nil, errLimit
	}
	return buf, nil
}
