package compress

import (
	"fmt"
	"testing"
)

// benchSizes are the value sizes benchmarked: a small event and a larger
// document, both JSON-like.
var benchSizes = []struct {
	name string
	size int
}{{"100B", 100}, {"16KiB", 16 << 10}}

// BenchmarkCompress reports throughput (MB/s of input) and the compression
// ratio (input bytes / output bytes) per codec and size.
func BenchmarkCompress(b *testing.B) {
	for _, c := range codecs {
		for _, sz := range benchSizes {
			b.Run(fmt.Sprintf("%s/%s", c, sz.name), func(b *testing.B) {
				v := jsonLike(9, sz.size)
				out, err := c.Compress(nil, v)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(v)))
				b.ReportAllocs()
				buf := make([]byte, 0, 2*len(out)+64)
				for b.Loop() {
					buf, _ = c.Compress(buf[:0], v)
				}
				b.ReportMetric(float64(len(v))/float64(len(out)), "ratio")
			})
		}
	}
}

// BenchmarkDecompress reports throughput in MB/s of decompressed output.
func BenchmarkDecompress(b *testing.B) {
	for _, c := range codecs {
		for _, sz := range benchSizes {
			b.Run(fmt.Sprintf("%s/%s", c, sz.name), func(b *testing.B) {
				v := jsonLike(9, sz.size)
				comp, err := c.Compress(nil, v)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(v)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Decompress(c.String(), comp, 0); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(v))/float64(len(comp)), "ratio")
			})
		}
	}
}
