package wire

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// fuzzMessage runs one decoder on arbitrary input. Seeds are the encoder's
// output for the golden values and round-trip cases. The decoder must not
// panic, and whatever it accepts must re-encode to exactly the input
// (bincode has one encoding per value, so accepting anything else would
// mean the decoder is lax), with Size agreeing.
func fuzzMessage(f *testing.F, newMsg func() Message, seeds ...Message) {
	for _, s := range seeds {
		b := s.Append(nil)
		f.Add(b)
		if len(b) > 1 {
			f.Add(b[:len(b)/2])
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m := newMsg()
		if err := m.Unmarshal(in); err != nil {
			return
		}
		out := m.Append(nil)
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs:\n  in %x\n out %x", in, out)
		}
		if m.Size() != len(in) {
			t.Fatalf("Size() = %d for %d input bytes", m.Size(), len(in))
		}
	})
}

func goldenValues(names ...string) []Message {
	var out []Message
	for _, c := range allGoldenCases() {
		for _, n := range names {
			if c.name == n {
				out = append(out, c.value)
			}
		}
	}
	return out
}

func FuzzProduceRequest(f *testing.F) {
	seeds := goldenValues("produce_request")
	seeds = append(seeds,
		&ProduceRequest{Topic: "t", Acks: Acks{Level: AckCustom, Custom: 5}},
		&ProduceRequest{Records: []Record{{Key: []byte{}, Headers: []Header{{Key: HeaderCodec, Value: []byte("gzip")}}}}},
	)
	fuzzMessage(f, func() Message { return new(ProduceRequest) }, seeds...)
}

func FuzzProduceResponse(f *testing.F) {
	fuzzMessage(f, func() Message { return new(ProduceResponse) },
		goldenValues("produce_response", "produce_response_error")...)
}

func FuzzFetchRequest(f *testing.F) {
	fuzzMessage(f, func() Message { return new(FetchRequest) }, goldenValues("fetch_request")...)
}

func FuzzFetchResponse(f *testing.F) {
	seeds := goldenValues("fetch_response")
	seeds = append(seeds, &FetchResponse{ErrorCode: 6, ErrorMessage: ptr("moved")})
	fuzzMessage(f, func() Message { return new(FetchResponse) }, seeds...)
}

func FuzzMetadataRequest(f *testing.F) {
	fuzzMessage(f, func() Message { return new(MetadataRequest) },
		goldenValues("metadata_request", "metadata_request_all")...)
}

func FuzzMetadataResponse(f *testing.F) {
	fuzzMessage(f, func() Message { return new(MetadataResponse) }, goldenValues("metadata_response")...)
}

func FuzzAuthenticateRequest(f *testing.F) {
	fuzzMessage(f, func() Message { return new(AuthenticateRequest) },
		&AuthenticateRequest{Mechanism: "PLAIN", Payload: []byte("\x00user\x00pass")},
		&AuthenticateRequest{Mechanism: "SCRAM-SHA-256", Payload: []byte("n,,n=user,r=nonce")},
	)
}

func FuzzAuthenticateResponse(f *testing.F) {
	fuzzMessage(f, func() Message { return new(AuthenticateResponse) },
		&AuthenticateResponse{Payload: []byte("r=nonce,s=salt,i=4096")},
		&AuthenticateResponse{Complete: true, Principal: ptr("alice"), SessionLifetimeMs: 60000, Payload: []byte{}},
		&AuthenticateResponse{ErrorCode: 58, ErrorMessage: ptr("bad credentials"), Payload: []byte{}},
	)
}

// FuzzSplitFrame checks that a split frame puts back together byte for byte,
// and that an error frame's text is always printable UTF-8.
func FuzzSplitFrame(f *testing.F) {
	for _, c := range allGoldenCases() {
		if c.reqType != 0 {
			f.Add(c.value.Append(AppendFrame(nil, c.reqType)))
		}
	}
	f.Add(AppendErrorFrame(nil, "Invalid request type: 9"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		typ, body, err := SplitFrame(frame)
		if err != nil {
			if len(frame) != 0 {
				t.Fatalf("SplitFrame(%x): %v", frame, err)
			}
			return
		}
		if got := append(AppendFrame(nil, typ), body...); !bytes.Equal(got, frame) {
			t.Fatalf("reassembled %x, want %x", got, frame)
		}
		if typ == TypeError {
			if s := ErrorFrameText(body); !utf8.ValidString(s) {
				t.Fatalf("ErrorFrameText(%x) = %q is not UTF-8", body, s)
			}
		}
	})
}

func FuzzCapabilitiesRequest(f *testing.F) {
	fuzzMessage(f, func() Message { return new(CapabilitiesRequest) },
		&CapabilitiesRequest{Version: CapabilitiesVersion},
		&CapabilitiesRequest{Version: 1<<32 - 1},
	)
}

func FuzzCapabilitiesResponse(f *testing.F) {
	fuzzMessage(f, func() Message { return new(CapabilitiesResponse) },
		&CapabilitiesResponse{Version: 1, Features: []string{FeatureIdempotence, FeatureReorderWindow, FeatureAuthenticate, FeatureWholeRequests}},
		&CapabilitiesResponse{Version: 2},
		&CapabilitiesResponse{Version: 1, Features: []string{"", "some-future-feature"}},
	)
}

// FuzzProduceRequestReusing decodes into a request that already holds
// records (with headers, keys and values of their own) and checks the
// result is what a fresh Unmarshal gives: nothing of the old records stays.
func FuzzProduceRequestReusing(f *testing.F) {
	for _, s := range goldenValues("produce_request") {
		f.Add(s.Append(nil))
	}
	f.Add((&ProduceRequest{Topic: "t", Records: []Record{{Value: []byte("v")}, {Key: []byte("k")}}}).Append(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		var fresh ProduceRequest
		freshErr := fresh.Unmarshal(in)
		old := make([]Record, 8)
		for i := range old {
			old[i] = Record{Key: []byte("old"), Value: []byte("old"), Headers: []Header{{Key: "old", Value: []byte("x")}}, Timestamp: 7}
		}
		reused := ProduceRequest{Topic: "old", Records: old[:3]}
		err := reused.UnmarshalReusing(in)
		if (err == nil) != (freshErr == nil) {
			t.Fatalf("fresh error %v, reusing error %v", freshErr, err)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(reused.Append(nil), fresh.Append(nil)) || len(reused.Records) != len(fresh.Records) {
			t.Fatalf("reusing decoded %#v, fresh %#v", reused, fresh)
		}
		for i := range fresh.Records {
			a, b := reused.Records[i], fresh.Records[i]
			if (a.Key == nil) != (b.Key == nil) || (a.Headers == nil) != (b.Headers == nil) {
				t.Fatalf("record %d: nil-ness differs: %#v vs %#v", i, a, b)
			}
		}
	})
}
