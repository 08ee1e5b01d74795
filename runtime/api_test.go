package runtime_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/rustmq/rustmq-go/actors"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// TestProducerAPI pins the exported methods of *Producer: only what users
// should call. Deliver, the actors' source, must never be one of them.
func TestProducerAPI(t *testing.T) {
	typ := reflect.TypeFor[*rmq.Producer]()
	var got []string
	for m := range typ.Methods() {
		got = append(got, m.Name)
	}
	want := []string{"Close", "Config", "Flush", "Metrics", "Send", "SendAsync", "SendBatch", "Stream"}
	if !slices.Equal(got, want) {
		t.Fatalf("exported methods of *Producer: %v, want %v", got, want)
	}
	if _, ok := any(&rmq.Producer{}).(actors.Source); ok {
		t.Fatal("*Producer implements actors.Source: users can deliver results")
	}
}
