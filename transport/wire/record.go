package wire

// Record and Header encoding, shared by ProduceRequest and FetchResponse:
//
//	Header { key: String, value: bytes }
//	Record { key: Option<bytes>, value: bytes, headers: Vec<Header>, timestamp: i64 }

// Size returns the exact length of the record's bincode encoding. A nil Key
// costs one byte (None); a non-nil Key, even an empty one, nine plus its
// length (Some).
func (r *Record) Size() int {
	n := optBytesSize(r.Key) + 8 + len(r.Value) + 8 + 8
	for i := range r.Headers {
		n += minHeaderSize + len(r.Headers[i].Key) + len(r.Headers[i].Value)
	}
	return n
}

// Append appends the record's bincode encoding to b.
func (r *Record) Append(b []byte) []byte {
	b = appendOptBytes(b, r.Key)
	b = appendBytes(b, r.Value)
	b = appendU64(b, uint64(len(r.Headers)))
	for i := range r.Headers {
		b = appendString(b, r.Headers[i].Key)
		b = appendBytes(b, r.Headers[i].Value)
	}
	return appendU64(b, uint64(r.Timestamp))
}

// HeaderValue returns the value of the first header named key and whether
// there was one.
func HeaderValue(hs []Header, key string) ([]byte, bool) {
	for i := range hs {
		if hs[i].Key == key {
			return hs[i].Value, true
		}
	}
	return nil, false
}

func recordsSize(recs []Record) int {
	n := 8
	for i := range recs {
		n += recs[i].Size()
	}
	return n
}

func appendRecords(b []byte, recs []Record) []byte {
	b = appendU64(b, uint64(len(recs)))
	for i := range recs {
		b = recs[i].Append(b)
	}
	return b
}

// decodeRecords reads a Vec<Record>. An empty sequence decodes as nil, as
// does a record's empty header list. The headers of all records share one
// backing array (each record's slice has its capacity clipped), which keeps
// a batch to a handful of allocations.
//
// reuse is a slice whose backing array may take the records when it is
// large enough; its records are overwritten.
func decodeRecords(r *reader, field string, reuse []Record) ([]Record, error) {
	n, err := r.length(field, minRecordSize)
	if err != nil || n == 0 {
		return nil, err
	}
	var recs []Record
	if cap(reuse) >= n {
		recs = reuse[:n]
	} else {
		recs = make([]Record, n)
	}
	var slab, prev []Header
	for i := range recs {
		if err := decodeRecord(r, &recs[i], &slab, prev, n-i); err != nil {
			return nil, prefixField(err, field, i)
		}
		prev = recs[i].Headers
	}
	return recs, nil
}

// minHeaderSlab is the room of a batch's first header slab, in headers.
const minHeaderSlab = 16

// decodeRecord reads one record into rec, appending its headers to *slab.
// prev holds the previous record's headers, whose keys are reused when this
// record repeats them. left counts this record and those after it, to size
// a new slab on the guess that the rest carry as many headers as this one.
func decodeRecord(r *reader, rec *Record, slab *[]Header, prev []Header, left int) error {
	var err error
	if rec.Key, err = r.optBytes("key"); err != nil {
		return err
	}
	if rec.Value, err = r.bytes("value"); err != nil {
		return err
	}
	hn, err := r.length("headers", minHeaderSize)
	if err != nil {
		return err
	}
	if hn > 0 {
		s := *slab
		if cap(s)-len(s) < hn {
			// hn headers fit in what remains (checked above), so limit >= hn
			// and the guess is bounded by the input's size. The guess that
			// the rest carry as many headers as this one is capped, growing
			// slab by slab: an idempotent batch carries two headers on its
			// first record only, and a slab for all its records (80 KB for
			// 1,000) was garbage on every request.
			want, limit := hn*left, r.remaining()/minHeaderSize
			if want > limit || want/left != hn {
				want = limit
			}
			want = max(hn, min(want, max(2*cap(s), minHeaderSlab)))
			s = make([]Header, 0, want)
		}
		start := len(s)
		for j := 0; j < hn; j++ {
			var h Header
			var prevKey string
			if j < len(prev) {
				prevKey = prev[j].Key
			}
			if h.Key, err = r.headerKey("key", prevKey); err != nil {
				return prefixField(err, "headers", j)
			}
			if h.Value, err = r.bytes("value"); err != nil {
				return prefixField(err, "headers", j)
			}
			s = append(s, h)
		}
		rec.Headers = s[start:len(s):len(s)]
		*slab = s
	} else {
		rec.Headers = nil // a reused record may hold another's
	}
	ts, err := r.u64("timestamp")
	rec.Timestamp = int64(ts)
	return err
}
