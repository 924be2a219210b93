package codec

import "encoding/base64"

// DecodeBase64 appends the decoding of src (standard alphabet, RFC 4648 §4)
// to dst; it allocates only when dst lacks room. It reports false for
// anything else, including the empty string and the SASL cancel "*".
//
// Padding: canonical padded input is accepted, and so is input without its
// padding, because nginx's ngx_decode_base64 accepts it (verified with
// nginx 1.22: "AUTHENTICATE PLAIN egB1c2VyAHBhc3M" logs in as "user").
// nginx also ignores whatever follows the first "="; that is refused here.
// An empty SASL response ("=" as an initial response, RFC 4959, or an empty
// continuation line) is the caller's to recognise before calling this.
func DecodeBase64(dst, src []byte) ([]byte, bool) {
	if len(src) == 0 {
		return dst, false
	}
	for _, c := range src {
		// encoding/base64 skips CR and LF; a SASL line must not hold them.
		if c == '\r' || c == '\n' {
			return dst, false
		}
	}
	enc := base64.StdEncoding
	if len(src)%4 != 0 {
		enc = base64.RawStdEncoding // unpadded; a stray "=" is still an error
	}
	out, err := enc.AppendDecode(dst, src)
	if err != nil {
		return dst, false
	}
	return out, true
}

// AppendBase64 appends the standard, padded base64 encoding of src to dst.
func AppendBase64(dst, src []byte) []byte {
	return base64.StdEncoding.AppendEncode(dst, src)
}
