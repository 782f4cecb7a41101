package contactcenter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// BenchmarkConfigApplyOne measures one administrator's change — a
// config.apply whose document names one new queue, as `POST /v1/config`
// with one entity sends — applied by the engine alone (every member
// applies it, and a restarted member replays every one since its
// snapshot) on configurations of growing size: n queues, 2n agents (each
// serving two queues, with an extension), 2n users and a directory of
// 10n contacts. An op is one change (its payload encoded before the
// timer starts); the configuration grows by one queue an op.
func BenchmarkConfigApplyOne(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("queues=%d", n), func(b *testing.B) {
			e := New()
			now := t0.UnixNano()
			idx := uint64(0)
			var em command.Emitter
			encode := func(doc string) []byte {
				d, err := ParseDocument([]byte(doc))
				if err != nil {
					b.Fatal(err)
				}
				payload, err := json.Marshal(ApplyRequest{Document: d})
				if err != nil {
					b.Fatal(err)
				}
				return payload
			}
			apply := func(payload []byte) {
				idx++
				now += int64(time.Millisecond)
				env := command.Envelope{Type: TypeConfigApply, Version: 1, ID: "c", Time: now, Payload: payload}
				em.Restart(idx, env)
				if _, err := e.Apply(env, &em); err != nil {
					b.Fatalf("config.apply: %v", err)
				}
			}
			// The configuration in documents under the size limit.
			var doc strings.Builder
			flush := func() {
				apply(encode(doc.String()))
				doc.Reset()
			}
			doc.WriteString("queues:\n")
			for q := range n {
				fmt.Fprintf(&doc, "  - {id: q%d}\n", q)
			}
			doc.WriteString("extensions:\n")
			for a := range 2 * n {
				fmt.Fprintf(&doc, "  - {number: \"%d\"}\n", 10000+a)
			}
			flush()
			doc.WriteString("agents:\n")
			for a := range 2 * n {
				fmt.Fprintf(&doc, "  - {id: a%d, extension: \"%d\", queues: [q%d, q%d]}\n", a, 10000+a, a%n, (a+1)%n)
			}
			flush()
			doc.WriteString("users:\n")
			for u := range 2 * n {
				fmt.Fprintf(&doc, "  - {id: u%d, name: User %d, extension: \"%d\"}\n", u, u, 10000+u)
			}
			flush()
			for c := range 10 * n {
				if c%10000 == 0 {
					if c > 0 {
						flush()
					}
					doc.WriteString("contacts:\n")
				}
				fmt.Fprintf(&doc, "  - {id: k%d, last_name: Contact %d, phone: \"+44 161 555 %04d\"}\n", c, c, c%10000)
			}
			flush()
			docs := make([][]byte, b.N)
			for i := range docs {
				docs[i] = encode(fmt.Sprintf("queues:\n  - {id: new%d}\n", i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				apply(docs[i])
			}
		})
	}
}
