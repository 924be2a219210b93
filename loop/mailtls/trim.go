package mailtls

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// crypto/tls keeps a connection's input buffers (rawInput: ciphertext,
// input: the decrypted record, which points into rawInput's array; hand:
// handshake messages) at the largest size they ever reached: after the
// handshake that is the ClientHello's size and more (about 3 KiB with a
// hybrid post-quantum key share), held for the life of an idle session.
// tls.Conn has no way to give them back, so Trim drops them by their
// field offsets when they hold nothing: a bytes.Buffer or bytes.Reader
// set to its zero value is empty and valid, and crypto/tls grows it again
// on the next record. The offsets are looked up by name and type once;
// if a Go release renames or retypes a field, Trim does nothing
// (TestTrimFindsCryptoTLSFields fails so that it is noticed).
var tcInput = func() (f struct {
	ok                    bool
	rawInput, input, hand uintptr
}) {
	t := reflect.TypeFor[tls.Conn]()
	field := func(name string, typ reflect.Type) (uintptr, bool) {
		sf, ok := t.FieldByName(name)
		return sf.Offset, ok && sf.Type == typ
	}
	buf, rd := reflect.TypeFor[bytes.Buffer](), reflect.TypeFor[bytes.Reader]()
	var ok1, ok2, ok3 bool
	f.rawInput, ok1 = field("rawInput", buf)
	f.input, ok2 = field("input", rd)
	f.hand, ok3 = field("hand", buf)
	f.ok = ok1 && ok2 && ok3
	return f
}()

// Trim gives crypto/tls's input buffers back when they are empty. Called
// on the loop in the data phase (ToLoop, and after a read found no more
// records), never while a tls.Conn call is running.
func (t *Conn) Trim() {
	if !tcInput.ok || t.TC == nil {
		return
	}
	p := unsafe.Pointer(t.TC)
	raw := (*bytes.Buffer)(unsafe.Add(p, tcInput.rawInput))
	in := (*bytes.Reader)(unsafe.Add(p, tcInput.input))
	if raw.Len() == 0 && in.Len() == 0 && raw.Cap() > 0 {
		*raw = bytes.Buffer{}
		*in = bytes.Reader{}
	}
	if hand := (*bytes.Buffer)(unsafe.Add(p, tcInput.hand)); hand.Len() == 0 && hand.Cap() > 0 {
		*hand = bytes.Buffer{}
	}
}
