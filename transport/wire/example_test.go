package wire_test

import (
	"errors"
	"fmt"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Encode a ProduceRequest into a request frame: the type byte, then the
// bincode body, in one buffer sized exactly.
func ExampleProduceRequest_Append() {
	req := &wire.ProduceRequest{
		Topic:       "events",
		PartitionID: 0,
		Records: []wire.Record{
			{Key: []byte("user-42"), Value: []byte("hello"), Timestamp: 1700000000000},
		},
		Acks:      wire.Acks{Level: wire.AckAll},
		TimeoutMs: 30000,
	}
	frame := make([]byte, 0, 1+req.Size())
	frame = req.Append(wire.AppendFrame(frame, wire.TypeProduce))

	typ, body, _ := wire.SplitFrame(frame)
	fmt.Println("type", typ, "body bytes", len(body), "frame bytes", len(frame), "capacity", cap(frame))
	// Output:
	// type 1 body bytes 79 frame bytes 80 capacity 80
}

// Decode a ProduceResponse body and turn its error code into an error.
func ExampleProduceResponse_Unmarshal() {
	// offset 0, error_code 3, error_message Some("nope/0")
	body := []byte{
		0, 0, 0, 0, 0, 0, 0, 0,
		3, 0, 0, 0,
		1, 6, 0, 0, 0, 0, 0, 0, 0, 'n', 'o', 'p', 'e', '/', '0',
	}
	var resp wire.ProduceResponse
	if err := resp.Unmarshal(body); err != nil {
		fmt.Println(err)
		return
	}
	err := resp.Err()
	fmt.Println(err)
	fmt.Println("retriable:", wire.IsRetriable(err), "unknown topic:", errors.Is(err, wire.ErrUnknownTopicOrPartition))

	// A body cut inside the message text is a *DecodeError naming the field.
	err = resp.Unmarshal(body[:24])
	var de *wire.DecodeError
	fmt.Println(errors.Is(err, wire.ErrInvalidLength), errors.As(err, &de), de.Field)
	// Output:
	// rustmq: broker answered UNKNOWN_TOPIC_OR_PARTITION: nope/0
	// retriable: true unknown topic: true
	// true true error_message
}
