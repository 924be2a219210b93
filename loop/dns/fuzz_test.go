package dns

import (
	"encoding/binary"
	"testing"
)

// FuzzDNSParse: any bytes as an answer to a PTR or A question: no panic,
// names within the length limit and made only of what was on the wire.
func FuzzDNSParse(f *testing.F) {
	const q = "2.0.0.127.in-addr.arpa"
	f.Add(testMsg(7, q, TypePTR, 0, 0, []testRR{{TypePTR, 5, []byte{1, 'x', 0xc0, 12}}}))
	f.Add(testMsg(7, q, TypeA, 0, 0, []testRR{{TypeA, 5, []byte{1, 2, 3, 4}}}))
	f.Add(testMsg(7, q, TypePTR, 0, 3, nil, testRR{TypeSOA, 5, make([]byte, 22)}))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) < 2 {
			return
		}
		id := binary.BigEndian.Uint16(msg)
		for _, qt := range []uint16{TypePTR, TypeA, TypeAAAA} {
			res, _, err := parse(msg, id, q, qt)
			if err != nil {
				continue
			}
			if len(res.CNAME) > maxName {
				t.Fatalf("CNAME of %d bytes", len(res.CNAME))
			}
			for _, n := range res.Names {
				if len(n) > maxName {
					t.Fatalf("name of %d bytes", len(n))
				}
			}
		}
		for off := 0; off < len(msg) && off < 64; off++ {
			if _, end, err := readName(msg, off); err == nil && (end <= off || end > len(msg)) {
				t.Fatalf("name at %d ends at %d of %d", off, end, len(msg))
			}
		}
	})
}
