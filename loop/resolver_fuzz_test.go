package loop

import (
	"encoding/binary"
	"testing"
)

// FuzzDNSParse: any bytes as an answer to a PTR or A question: no panic,
// names within the length limit and made only of what was on the wire.
func FuzzDNSParse(f *testing.F) {
	const q = "2.0.0.127.in-addr.arpa"
	f.Add(dnsTestMsg(7, q, dnsTypePTR, 0, 0, []dnsTestRR{{dnsTypePTR, 5, []byte{1, 'x', 0xc0, 12}}}))
	f.Add(dnsTestMsg(7, q, dnsTypeA, 0, 0, []dnsTestRR{{dnsTypeA, 5, []byte{1, 2, 3, 4}}}))
	f.Add(dnsTestMsg(7, q, dnsTypePTR, 0, 3, nil, dnsTestRR{dnsTypeSOA, 5, make([]byte, 22)}))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) < 2 {
			return
		}
		id := binary.BigEndian.Uint16(msg)
		for _, qt := range []uint16{dnsTypePTR, dnsTypeA, dnsTypeAAAA} {
			res, _, err := dnsParse(msg, id, q, qt)
			if err != nil {
				continue
			}
			for _, n := range res.names {
				if len(n) > dnsMaxName {
					t.Fatalf("name of %d bytes", len(n))
				}
			}
		}
		for off := 0; off < len(msg) && off < 64; off++ {
			if _, end, err := dnsReadName(msg, off); err == nil && (end <= off || end > len(msg)) {
				t.Fatalf("name at %d ends at %d of %d", off, end, len(msg))
			}
		}
	})
}
