package codec

// Result says what a parser call found at the start of the buffer.
type Result uint8

const (
	// NeedMore: the buffer holds no complete command yet; read more and
	// call again with the same (grown) buffer.
	NeedMore Result = iota
	// Done: one command was parsed; its arguments alias the input.
	Done
	// Invalid: the bytes up to consumed form a command that is malformed;
	// the caller replies with the protocol's error and drops consumed bytes.
	Invalid
	// Continue: an IMAP synchronizing literal needs a "+ OK" continuation
	// before the client sends its bytes (see IMAPParser).
	Continue
)
