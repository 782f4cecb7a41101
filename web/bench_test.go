package web

import (
	"fmt"
	"testing"
)

// BenchmarkDecodeCallback measures the edge's reading and checking of a
// POST /api/v1/callbacks body like bench/web.sh's (queue, customer name,
// phone, priority), the first step of every request.
func BenchmarkDecodeCallback(b *testing.B) {
	bodies := make([][]byte, 1000)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"customer_name":"Bench %08x","phone":"+1 123456 %012d","priority":%d,"queue":"bench"}`, i*2654435761, i, 1+i%100)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, e := DecodeCallback(bodies[i%len(bodies)]); e != nil {
			b.Fatal(e)
		}
	}
}
