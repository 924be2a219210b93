package mockbackend

const (
	msgHeadA = "From: Bench Sender <sender@bench.test>\r\n" +
		"To: Bench Rcpt <rcpt@bench.test>\r\n" +
		"Subject: mailbench message"
	msgHeadB = "\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Message-ID: <mailbench.1@bench.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"\r\n"
	msgLine = 76 // body line length before CRLF
)

// Message returns an RFC 5322 message of exactly size bytes (or the bare
// header block, about 250 bytes, if size is smaller). Lines end in CRLF, are
// at most 78 bytes and never start with a dot, so the same bytes serve as an
// IMAP literal, a POP3 RETR body and an SMTP DATA payload without stuffing.
func Message(size int) []byte {
	hdr := len(msgHeadA) + len(msgHeadB)
	// A body line needs at least 3 bytes; a message one or two bytes longer
	// than the header block gets them in its Subject instead.
	pad := 0
	if d := size - hdr; d == 1 || d == 2 {
		pad = d
	}
	msg := make([]byte, 0, max(size, hdr))
	msg = append(msg, msgHeadA...)
	msg = append(msg, "xx"[:pad]...)
	msg = append(msg, msgHeadB...)
	for len(msg) < size {
		left := size - len(msg)
		switch {
		case left >= msgLine+2+3: // room for a full line and a minimal one
			msg = msgFill(msg, msgLine)
		case left > msgLine+2:
			msg = msgFill(msg, left-2-3)
		default:
			msg = msgFill(msg, left-2)
		}
	}
	return msg
}

func msgFill(msg []byte, n int) []byte {
	for i := 0; i < n; i++ {
		msg = append(msg, 'a'+byte((len(msg)+i)%26))
	}
	return append(msg, '\r', '\n')
}
