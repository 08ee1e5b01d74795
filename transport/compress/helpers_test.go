package compress

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// codecs lists the compressing codecs.
var codecs = []Codec{Gzip, LZ4, Zstd}

// randomBytes returns n bytes from a seeded generator: incompressible data.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// jsonLike returns about n bytes of JSON-like event records, the kind of
// value producers typically send: repetitive keys, varying numbers.
func jsonLike(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	events := []string{"click", "view", "purchase", "signup", "logout"}
	var sb strings.Builder
	sb.WriteString("[")
	for sb.Len() < n {
		if sb.Len() > 1 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"id":%d,"user":"user-%d","event":%q,"ts":%d,"amount":%.2f,"tags":["t%d","t%d"]}`,
			r.IntN(1_000_000), r.IntN(5000), events[r.IntN(len(events))],
			1_700_000_000_000+r.Int64N(1_000_000_000), r.Float64()*500, r.IntN(20), r.IntN(20))
	}
	sb.WriteString("]")
	b := []byte(sb.String())
	if len(b) > n {
		b = b[:n]
	}
	return b
}
