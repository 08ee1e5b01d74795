package compress_test

import (
	"fmt"

	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// A consumer reads records fetched from RustMQ. Values that a producer
// compressed carry the rmq-codec header; DecodeValue undoes the compression
// and passes other values through.
func ExampleDecodeValue() {
	value := []byte(`{"order":1234,"status":"shipped","items":["book","lamp","book","lamp"]}`)

	// What a compressing producer wrote (normally from a FetchResponse).
	compressed, err := compress.Zstd.Compress(nil, value)
	if err != nil {
		panic(err)
	}
	fetched := []wire.Record{
		{Key: []byte("1234"), Value: compressed, Headers: []wire.Header{
			{Key: wire.HeaderCodec, Value: []byte(compress.Zstd.String())},
		}},
		{Key: []byte("1235"), Value: []byte(`{"order":1235,"status":"new"}`)},
	}

	for i := range fetched {
		v, err := compress.DecodeValue(&fetched[i])
		if err != nil {
			fmt.Println("skip record:", err)
			continue
		}
		fmt.Printf("%s: %s\n", fetched[i].Key, v)
	}
	// Output:
	// 1234: {"order":1234,"status":"shipped","items":["book","lamp","book","lamp"]}
	// 1235: {"order":1235,"status":"new"}
}
