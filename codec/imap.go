package codec

// IMAPCmd is an IMAP command known before authentication.
type IMAPCmd uint8

const (
	IMAPUnknown IMAPCmd = iota
	IMAPCapability
	IMAPNoop
	IMAPLogout
	IMAPLogin
	IMAPAuthenticate
	IMAPStarttls
	IMAPID // RFC 2971; mailproxy answers it before auth (nginx does not)
)

// IMAPMaxArgs is the argument limit of nginx's parser: a 4th argument is
// a parse error (Invalid).
const IMAPMaxArgs = 3

// IMAPMaxTag is the longest tag accepted, as nginx: tags are 1 to 32 bytes
// of [A-Za-z0-9-._], stricter than RFC 3501's tag grammar.
const IMAPMaxTag = 32

// imapMaxName is the longest command name known; longer names fail at once
// instead of waiting for the end of the line.
const imapMaxName = len("AUTHENTICATE")

// imapMaxLiteral caps a literal's length when the caller gives no limit, so
// that the length arithmetic cannot overflow.
const imapMaxLiteral = 1 << 30

// IMAPCommand is one parsed command. Slices alias the buffer given to Parse
// (or the parser's scratch, for quoted strings with escapes) and are valid
// until the caller drops those bytes or calls Parse again.
type IMAPCommand struct {
	Tag  []byte // valid tag (aliases input); nil when the tag was bad
	Cmd  IMAPCmd
	Args [IMAPMaxArgs][]byte // argument values: atoms and literals alias the input; quoted strings are unescaped
	// NArgs counts the used entries of Args. For IMAPID, Args[0] holds the
	// raw parenthesised list or NIL (syntax validated) and NArgs is 1.
	NArgs int
	// BadTag is set with Invalid: reply "* BAD invalid command" (untagged)
	// instead of "<tag> BAD invalid command".
	BadTag bool
	// Close is set with Invalid: the stream cannot be resynchronised (command
	// too long for the limit, invalid command ending in a non-synchronizing
	// literal, literal larger than the limit): reply, then close.
	Close bool
}

// IMAPParser parses one command at a time from the start of a buffer. It is
// resumable: after NeedMore or Continue the caller reads more bytes and calls
// Parse again with a buffer that starts at the same command (the old bytes,
// possibly copied elsewhere, plus the new ones). The parser keeps offsets,
// never pointers into the buffer, between calls. The zero value is ready;
// a parser belongs to one session and one goroutine.
type IMAPParser struct {
	pos     int // next byte to scan
	state   imapState
	tagEnd  int // tag is buf[:tagEnd]; 0 while the tag is not (yet) valid
	mark    int // start of the command name, or of the current atom/quoted/literal data
	cmd     IMAPCmd
	nargs   int
	args    [IMAPMaxArgs]imapSpan
	esc     bool // current quoted argument had an escape and lives in scratch
	litLen  int  // literal length being read, then bytes of literal data left; index into "nil" while reading NIL
	litNS   bool // literal is non-synchronizing ({n+})
	inID    bool // the literal or NIL belongs to an ID parameter list
	idOpen  bool // just after the "(" of an ID list
	idN     int  // strings and NILs seen in the ID list
	idEnd   int  // end of the raw ID argument
	idMark  int  // start of the raw ID argument
	scratch []byte
}

// imapSpan locates an argument in the input or in the parser's scratch.
type imapSpan struct {
	start, end int
	scratch    bool
}

// Reset forgets any partly parsed command; the scratch memory is kept.
func (p *IMAPParser) Reset() {
	*p = IMAPParser{scratch: p.scratch[:0]}
}

// imapLookup recognises a command name by its length, then by an ASCII
// case-insensitive compare (RFC 3501 §9: command names are case-insensitive).
func imapLookup(name []byte) IMAPCmd {
	switch len(name) {
	case 2:
		if lineEqualFold(name, "ID") {
			return IMAPID
		}
	case 4:
		if lineEqualFold(name, "NOOP") {
			return IMAPNoop
		}
	case 5:
		if lineEqualFold(name, "LOGIN") {
			return IMAPLogin
		}
	case 6:
		if lineEqualFold(name, "LOGOUT") {
			return IMAPLogout
		}
	case 8:
		if lineEqualFold(name, "STARTTLS") {
			return IMAPStarttls
		}
	case 10:
		if lineEqualFold(name, "CAPABILITY") {
			return IMAPCapability
		}
	case 12:
		if lineEqualFold(name, "AUTHENTICATE") {
			return IMAPAuthenticate
		}
	}
	return IMAPUnknown
}

// Byte classes. Tags: nginx's [A-Za-z0-9-._]. Atoms: printable ASCII except
// SP and the specials that start or delimit other syntax ("(", ")", "{",
// '"', "\"); "%", "*" and "]" are allowed (ASTRING-CHAR plus list wildcards,
// which clients do send unquoted in passwords), and so are bytes >= 0x80,
// which nginx passes through (UTF-8 user names). Control bytes, NUL and DEL
// are invalid everywhere outside literals.
const (
	imapClassTag = 1 << iota
	imapClassAtom
	imapClassQuoted // allowed inside a quoted string without escape
)

var imapClass = imapMakeClass()

func imapMakeClass() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
			t[c] |= imapClassTag
		}
		if (c > ' ' && c < 0x7f) || c >= 0x80 {
			switch c {
			case '(', ')', '{', '"', '\\':
			default:
				t[c] |= imapClassAtom
			}
		}
		// RFC 3501 QUOTED-CHAR is TEXT-CHAR minus quoted-specials; RFC 9051
		// adds UTF-8. NUL, CR and LF are refused.
		if c != 0 && c != '\r' && c != '\n' && c != '"' && c != '\\' {
			t[c] |= imapClassQuoted
		}
	}
	return t
}
