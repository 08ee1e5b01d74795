package broker

import (
	"context"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// FuzzDispatch feeds arbitrary request frames to a node's dispatcher and
// checks that every answer is a well-formed frame: the request's own type
// with a body that decodes, or an error frame in upstream's form.
func FuzzDispatch(f *testing.F) {
	f.Add((&wire.ProduceRequest{Topic: "t", Records: records("a")}).Append([]byte{wire.TypeProduce}))
	f.Add((&wire.ProduceRequest{Topic: "t", Records: idem(records("a", "b"), 3, 0), Acks: wire.Acks{Level: wire.AckAll}}).Append([]byte{wire.TypeProduce}))
	f.Add((&wire.FetchRequest{Topic: "t", MaxBytes: 100}).Append([]byte{wire.TypeFetch}))
	f.Add((&wire.MetadataRequest{Topics: []string{"t", "x"}}).Append([]byte{wire.TypeMetadata}))
	f.Add((&wire.AuthenticateRequest{Mechanism: "PLAIN"}).Append([]byte{wire.TypeAuthenticate}))
	f.Add((&wire.CapabilitiesRequest{Version: wire.CapabilitiesVersion}).Append([]byte{wire.TypeCapabilities}))
	f.Add([]byte{5})
	f.Add([]byte{})
	b, err := Start(context.Background(), Config{Topics: map[string]int{"t": 2}})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	n := b.nodes[0]
	f.Fuzz(func(t *testing.T, frame []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		rep := n.dispatch(ctx, &connection{node: n}, frame)
		if rep.drop {
			return // a long poll or a wait cut short by ctx
		}
		typ, body, err := wire.SplitFrame(rep.frame)
		if err != nil {
			t.Fatalf("empty answer to %x", frame)
		}
		var derr error
		switch typ {
		case wire.TypeError:
			if len(body) < 7 || string(body[:7]) != "Error: " {
				t.Fatalf("error frame %q lacks the Error: prefix", body)
			}
			return
		case wire.TypeProduce:
			derr = new(wire.ProduceResponse).Unmarshal(body)
		case wire.TypeFetch:
			derr = new(wire.FetchResponse).Unmarshal(body)
		case wire.TypeMetadata:
			derr = new(wire.MetadataResponse).Unmarshal(body)
		case wire.TypeCapabilities:
			derr = new(wire.CapabilitiesResponse).Unmarshal(body)
		default:
			t.Fatalf("answer type %d", typ)
		}
		if derr != nil {
			t.Fatalf("answer does not decode: %v", derr)
		}
		if len(frame) == 0 || typ != frame[0] {
			t.Fatalf("answer type %d to request %x", typ, frame)
		}
	})
}
