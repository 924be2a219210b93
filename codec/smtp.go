package codec

// SMTPCmd is an SMTP command recognised before authentication. nginx knows
// exactly these (ngx_mail_parse.c); DATA, BDAT and every other verb are
// unknown, answered "500 5.5.1 Invalid command" and counted as errors.
// VRFY, EXPN and HELP are recognised only to be refused without counting.
type SMTPCmd uint8

const (
	SMTPUnknown SMTPCmd = iota
	SMTPHelo
	SMTPEhlo
	SMTPAuth
	SMTPMail
	SMTPRcpt
	SMTPRset
	SMTPNoop
	SMTPQuit
	SMTPStarttls
	SMTPVrfy
	SMTPExpn
	SMTPHelp
)

// SMTPMaxArgs is nginx's argument limit for SMTP commands; a twelfth
// argument makes the command invalid (verified on nginx 1.22).
const SMTPMaxArgs = 11

// SMTPCommand is one parsed SMTP command line. All slices alias the input
// buffer and are valid until the caller discards those bytes.
type SMTPCommand struct {
	Cmd   SMTPCmd
	Args  [SMTPMaxArgs][]byte
	NArgs int
	// Line is the whole command line as sent, including its line end.
	Line []byte
	// Replay is the line as nginx keeps it for MAIL and RCPT: from the
	// verb to the end of the last argument, so without trailing spaces
	// and without the line end. nginx 1.22 puts exactly this in
	// Auth-SMTP-From / Auth-SMTP-To and replays it to the backend followed
	// by CRLF, even when the client ended the line with a bare LF
	// (verified: "RCPT TO:<c@d> NOTIFY=NEVER \n" reaches the backend as
	// "RCPT TO:<c@d> NOTIFY=NEVER\r\n"; inner double spaces are kept).
	Replay []byte
}

// ParseSMTP parses one command line from the start of buf, with the same
// contract as ParsePOP3 (line end CRLF or bare LF, limit includes the line
// end, CommandTooLong tells the two Invalid kinds apart). DATA, BDAT and
// unknown verbs are Invalid; more than SMTPMaxArgs arguments are Invalid.
// On Invalid with a complete line, Line is still set (for logging).
//
// Arguments are split at runs of SP only, as nginx does: "MAIL FROM: <a>"
// has the two arguments "FROM:" and "<a>", "MAIL FROM:<a>" has one. Tabs
// are argument bytes ("EHLO x\ty" is EHLO with one argument), while a
// leading space or a tab right after the verb makes the line invalid
// (verified on nginx 1.22).
func ParseSMTP(buf []byte, limit int, cmd *SMTPCommand) (res Result, consumed int) {
	*cmd = SMTPCommand{}
	body, n, res := pop3Line(buf, limit)
	if res == Invalid && !CommandTooLong(buf, n, limit) {
		cmd.Line = buf[:n]
	}
	if res != Done {
		return res, n
	}
	cmd.Line = buf[:n]
	verb, rest, ok := pop3Verb(body)
	if !ok {
		return Invalid, n
	}
	switch len(verb) {
	case 4:
		cmd.Cmd = smtpVerb4(pop3Fold4(verb))
	case 8:
		if pop3Fold4(verb) == 's'<<24|'t'<<16|'a'<<8|'r' && pop3Fold4(verb[4:]) == 't'<<24|'t'<<16|'l'<<8|'s' {
			cmd.Cmd = SMTPStarttls
		}
	}
	if cmd.Cmd == SMTPUnknown {
		return Invalid, n
	}
	na, end, ok := pop3Split(rest, cmd.Args[:])
	if !ok {
		cmd.Cmd = SMTPUnknown
		cmd.Args = [SMTPMaxArgs][]byte{}
		return Invalid, n
	}
	cmd.NArgs = na
	if na == 0 {
		cmd.Replay = verb
	} else {
		cmd.Replay = body[:len(body)-len(rest)+end]
	}
	return Done, n
}

func smtpVerb4(w uint32) SMTPCmd {
	switch w {
	case 'h'<<24 | 'e'<<16 | 'l'<<8 | 'o':
		return SMTPHelo
	case 'e'<<24 | 'h'<<16 | 'l'<<8 | 'o':
		return SMTPEhlo
	case 'a'<<24 | 'u'<<16 | 't'<<8 | 'h':
		return SMTPAuth
	case 'm'<<24 | 'a'<<16 | 'i'<<8 | 'l':
		return SMTPMail
	case 'r'<<24 | 'c'<<16 | 'p'<<8 | 't':
		return SMTPRcpt
	case 'r'<<24 | 's'<<16 | 'e'<<8 | 't':
		return SMTPRset
	case 'n'<<24 | 'o'<<16 | 'o'<<8 | 'p':
		return SMTPNoop
	case 'q'<<24 | 'u'<<16 | 'i'<<8 | 't':
		return SMTPQuit
	case 'v'<<24 | 'r'<<16 | 'f'<<8 | 'y':
		return SMTPVrfy
	case 'e'<<24 | 'x'<<16 | 'p'<<8 | 'n':
		return SMTPExpn
	case 'h'<<24 | 'e'<<16 | 'l'<<8 | 'p':
		return SMTPHelp
	}
	return SMTPUnknown
}
