package codec

// AppendXtext appends src to dst encoded as RFC 3461 §4 xtext, the way
// nginx 1.29.2+ encodes the XCLIENT LOGIN= value: every byte below 0x21,
// '+', '=' and every byte from 0x7F up becomes "+XX" with uppercase hex;
// all other bytes are copied. UTF-8 is encoded byte by byte.
func AppendXtext(dst, src []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range src {
		if c < 0x21 || c >= 0x7F || c == '+' || c == '=' {
			dst = append(dst, '+', hex[c>>4], hex[c&0xF])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
