package config

import (
	"net/netip"
	"time"
)

// Config is a parsed, validated configuration. It is immutable once Load
// returns: reload builds a new one and swaps the pointer.
type Config struct {
	File string // absolute path of the main config file

	WorkerProcesses    int           // event loops; 0 = auto (number of CPUs)
	WorkerConnections  int           // cap on concurrent client connections (events{}); default 512 as nginx
	WorkerRlimitNofile int           // 0 = not set
	ShutdownTimeout    time.Duration // worker_shutdown_timeout; 0 = wait for sessions
	GCHeapFloor        int           // gc_heap_floor bytes (mailproxy's own); 0 = off; default DefaultGCHeapFloor
	Pid                string        // pid file path; "" = none
	User, Group        string        // user directive; "" = not set
	Daemon             bool          // parsed only: mailproxy always runs in the foreground
	MasterProcess      bool          // parsed only
	ErrorLogs          []LogTarget   // main-context error_log; default stderr at error level

	Notices []Notice // info/warn messages produced while parsing (load_module ignored, ...)

	// Limits holds the mail-level edge-defence directives that are
	// process-wide (config/limits.go): they are set only in mail{}.
	Limits MailLimits

	Mail  *Mail  // nil when there is no mail{} block
	Admin *Admin // nil when there is no admin{} block
}

// Notice is a non-fatal message from the parser, printed nginx-style.
type Notice struct {
	Level string // "notice", "warn", "info"
	Msg   string // already includes " in FILE:LINE" where relevant
}

// LogTarget is one error_log destination.
type LogTarget struct {
	Path   string        // file path, "stderr", or the "syslog:..." / "memory:..." word as written
	Level  string        // debug info notice warn error crit alert emerg; default "error"
	Syslog *SyslogTarget // set for syslog: targets
	Memory int           // buffer size of a memory: target (accepted and discarded, see README)
}

// SyslogTarget is the parsed "syslog:" parameter list of an error_log
// (ngx_syslog_parse_args).
type SyslogTarget struct {
	Network    string // "udp" or "unixgram"
	Addr       string // "ip:port" (the first address of a host name, resolved at load) or a socket path
	Server     string // server= as written, for messages
	Facility   int    // facility code: kern 0 ... local7 23; default local7
	Severity   int    // severity= (0 emerg ... 7 debug; default info): parsed only, as in nginx an error_log message carries its own level
	Tag        string // default "nginx"; "tag=" gives an empty tag, as nginx
	NoHostname bool
}

// Mail is the mail{} block.
type Mail struct {
	Servers []*Server
}

// Protocol numbers.
type Protocol uint8

const (
	IMAP Protocol = iota + 1
	POP3
	SMTP
)

func (p Protocol) String() string {
	switch p {
	case IMAP:
		return "imap"
	case POP3:
		return "pop3"
	case SMTP:
		return "smtp"
	}
	return "unknown"
}

// AuthMethods is a bit set of SASL / login methods enabled by imap_auth,
// pop3_auth and smtp_auth.
type AuthMethods uint8

const (
	AuthPlain AuthMethods = 1 << iota
	AuthLogin
	AuthCramMD5
	AuthExternal
	AuthAPOP        // pop3 only
	AuthNone        // smtp only
	AuthOAuthBearer // RFC 7628 (nginx PR #1590)
	AuthXOAuth2     // Google's XOAUTH2 (nginx PR #1590)

	// AuthOAuth is both OAuth mechanisms.
	AuthOAuth = AuthOAuthBearer | AuthXOAuth2
)

// Starttls modes.
type Starttls uint8

const (
	StarttlsOff Starttls = iota
	StarttlsOn
	StarttlsOnly
)

// ProxyProtocolOut is the proxy_protocol directive (header sent to backends).
type ProxyProtocolOut uint8

const (
	ProxyProtocolOff ProxyProtocolOut = iota
	ProxyProtocolV1
	ProxyProtocolV2
)

// Listen is one listen directive.
type Listen struct {
	Addr          string // host:port as given to net.Listen ("0.0.0.0:143", "[::1]:143", "unix:/path")
	Network       string // "tcp" or "unix"
	SSL           bool
	ProxyProtocol bool
	Backlog       int // 0 = default (511)
	RcvBuf        int // 0 = not set
	SndBuf        int
	Bind          bool
	Multipath     bool   // MPTCP requested (Linux only)
	IPv6Only      int    // -1 not set, 0 off, 1 on
	SoKeepalive   string // "", "on", "off", or "idle:intvl:cnt"
	File          string
	Line          int
}

// Header is one auth_http_header.
type Header struct{ Name, Value string }

// Server is one server{} block after mail→server inheritance was applied:
// every field holds its effective value.
type Server struct {
	File string // where the server block starts, for messages
	Line int

	Protocol   Protocol
	Listens    []Listen
	ServerName string // default: the machine hostname

	Timeout     time.Duration // default 60s
	MaxErrors   int           // default 5
	SoKeepalive bool          // legacy so_keepalive directive (keepalive.go): client and backend sockets
	ErrorLogs   []LogTarget   // per-server error_log, if any

	Resolver        []string      // name servers as "ip:port"; off = nil (resolver.go)
	ResolverTimeout time.Duration // default 30s, for each lookup
	ResolverValid   time.Duration // valid=; 0: the records' TTL
	ResolverIPv4    bool          // ipv4= (default on): A records in the forward lookup
	ResolverIPv6    bool          // ipv6= (default on): AAAA records

	// auth_http
	AuthHTTP        string           // the (first) URL as written
	AuthHTTPAddr    string           // "host:port" to dial, or "unix:/path" (of the first URL)
	AuthHTTPHost    string           // value of the Host header (of the first URL)
	AuthHTTPURI     string           // request URI, default "/" (of the first URL)
	AuthHTTPServers []AuthHTTPServer // every URL of auth_http, in order (extension: more than one)
	// auth_http https:// (extension): CAs ("" = system roots), client certificate
	AuthHTTPSSLTrustedCertificate string
	AuthHTTPSSLCertificate        string
	AuthHTTPSSLCertificateKey     string
	AuthHTTPCache                 AuthCache // auth_http_cache (extension); Size 0 = off
	AuthHTTPHeaders               []Header
	AuthHTTPTimeout               time.Duration // default 60s
	AuthHTTPPassClientCert        bool

	// proxy
	Proxy                 bool // no-op, accepted for compatibility
	ProxyBuffer           int  // default 4096 (one page)
	ProxyPassErrorMessage bool
	ProxyProtocolOut      ProxyProtocolOut
	ProxySMTPAuth         bool
	ProxyTimeout          time.Duration // default 24h
	XClient               bool          // default on
	ProxyForwardClient    bool          // proxy_forward_client: IMAP ID / POP3 XCLIENT with the client's address (mailproxy)

	// imap
	IMAPAuth         AuthMethods // default AuthPlain
	IMAPCapabilities []string    // default IMAP4 IMAP4rev1 UIDPLUS
	IMAPClientBuffer int         // default 4096

	// pop3
	POP3Auth         AuthMethods // default AuthPlain
	POP3Capabilities []string    // default TOP USER UIDL
	POP3ClientBuffer int         // mailproxy extension; default 4096 (nginx: fixed 128)

	// smtp
	SMTPAuth          AuthMethods // default AuthPlain|AuthLogin
	SMTPCapabilities  []string    // default empty
	SMTPClientBuffer  int         // default 4096
	SMTPGreetingDelay time.Duration

	// ssl
	Starttls                  Starttls
	SSLCertificates           []string
	SSLCertificateKeys        []string
	SSLPasswordFile           string
	SSLProtocols              []string // default TLSv1.2 TLSv1.3
	SSLCiphers                string   // default HIGH:!aNULL:!MD5
	SSLPreferServerCiphers    bool
	SSLECDHCurve              string // default auto
	SSLSessionCache           string // as written; default none
	SSLSessionCacheBuiltin    int    // builtin[:size]: sessions (default 20480); 0 = no builtin cache
	SSLSessionCacheZone       string // shared:NAME:size: the name; "" = no shared cache
	SSLSessionCacheZoneSize   int    // shared:NAME:size: bytes
	SSLSessionTickets         bool   // default on
	SSLSessionTicketKeys      []string
	SSLSessionTimeout         time.Duration // default 5m
	SSLVerifyClient           string        // off|on|optional|optional_no_ca
	SSLVerifyDepth            int           // default 1
	SSLClientCertificate      string
	SSLTrustedCertificate     string
	SSLCRL                    string
	SSLDHParam                string
	SSLCertificateCompression bool
	SSLConfCommands           []Header // ssl_conf_command name value, in order

	// TLS towards backends (mailproxy extension, config/proxyssl.go)
	ProxySSL                   bool   // proxy_ssl: implicit TLS to the backend
	ProxyStarttls              bool   // proxy_starttls: STARTTLS/STLS to the backend
	ProxySSLTrustedCertificate string // CAs for the backend's certificate; "" = system roots
	ProxySSLNoVerify           bool   // proxy_ssl_verify off
	ProxySSLName               string // SNI and verified name; "" = the Auth-Server address
	ProxySSLCertificate        string // client certificate shown to the backend
	ProxySSLCertificateKey     string

	// realip
	SetRealIPFrom []string // CIDRs or "unix:"

	// edge defence (mailproxy extension, config/limits.go)
	Access          []AccessRule   // allow/deny in order, first match wins; nil = allow all
	LimitConnPerIP  int            // concurrent connections per client address (prefix); 0 = off
	LimitRatePerIP  float64        // new connections per second per client address; 0 = off
	LimitRateBurst  int            // connections allowed at once before the rate applies
	LimitIPv6Prefix int            // IPv6 addresses are counted per prefix of this length; default 64
	LimitPreauth    int            // pre-auth connections of this server; 0 = off
	LimitAuthFail   AuthFailLimit  // failure budgets; zero = off
	LimitExempt     []netip.Prefix // exempt from the per-address limits

	// accessOwn: this server set allow/deny itself, so mail's list is not
	// inherited (the two directives form one list, as in nginx).
	accessOwn bool
}

// AccessRule is one allow or deny directive.
type AccessRule struct {
	Allow  bool
	All    bool         // "all"
	Unix   bool         // "unix:": connections over a UNIX-domain socket
	Prefix netip.Prefix // otherwise: the address or CIDR
}

// AuthFailLimit is limit_auth_fail: failed logins allowed per client
// address and per login name within a window, and the ban that follows.
type AuthFailLimit struct {
	IP, Login             int           // failures allowed; 0 = that budget is off
	IPPeriod, LoginPeriod time.Duration // the windows
	Ban                   time.Duration // how long an address or login over budget is refused
	Tarpit                time.Duration // the longest delay before a refused attempt is answered
}

// MailLimits are the process-wide edge-defence settings, from mail{}.
type MailLimits struct {
	Preauth   int    // limit_preauth in mail{}: pre-auth connections of all servers together; 0 = off
	Store     string // limit_store: "" (off) or the redis:// URL as written
	StoreAddr string // host:port of the Redis store
	StoreDB   int    // Redis database number
	TableSize int    // limit_table_size; 0 = DefaultLimitTableSize
}

// DefaultLimitTableSize is the number of keys (client addresses, logins,
// address+login pairs) the edge-defence tables track without
// limit_table_size.
const DefaultLimitTableSize = 100000

// Admin is the admin{} block (mailproxy extension): the listener serving
// metrics, /livez and /readyz.
type Admin struct {
	Listen string // host:port
	File   string // where the admin block starts, for messages
	Line   int
}
