package config

import (
	"net"
	"strconv"
	"strings"
	"syscall"
)

// error_log syslog:... and memory:... targets, parsed as nginx 1.22 parses
// them (ngx_syslog_parse_args, ngx_log_set_log), with nginx's error texts.

// syslogFacilities are nginx's facility names; the index is the code.
var syslogFacilities = []string{
	"kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news", "uucp",
	"clock", "authpriv", "ftp", "ntp", "audit", "alert", "cron", "local0",
	"local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// syslogSeverities are nginx's severity names; the index is the code
// (RFC 5424 section 6.2.1 numbering, nginx's level names).
var syslogSeverities = []string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}

const (
	syslogDefaultFacility = 23 // local7
	syslogDefaultSeverity = 6  // info
	syslogDefaultPort     = "514"
	syslogTagMax          = 32
)

func nameIndex(names []string, s string) int {
	for i, n := range names {
		if n == s {
			return i
		}
	}
	return -1
}

// parseSyslog reads the comma-separated parameters after "syslog:".
func parseSyslog(p *parser, d *node, args string) (*SyslogTarget, error) {
	st := &SyslogTarget{Facility: syslogDefaultFacility, Severity: syslogDefaultSeverity, Tag: "nginx"}
	var seenServer, seenFacility, seenSeverity, seenTag bool
	dup := func(seen *bool, name string) error {
		if *seen {
			return d.nodeErr(`duplicate syslog "%s"`, name)
		}
		*seen = true
		return nil
	}
	for _, a := range strings.Split(args, ",") {
		name, val, _ := strings.Cut(a, "=")
		switch {
		case name == "server" && strings.HasPrefix(a, "server="):
			if err := dup(&seenServer, name); err != nil {
				return nil, err
			}
			if err := parseSyslogServer(p, d, st, val); err != nil {
				return nil, err
			}
		case name == "facility" && strings.HasPrefix(a, "facility="):
			if err := dup(&seenFacility, name); err != nil {
				return nil, err
			}
			if st.Facility = nameIndex(syslogFacilities, val); st.Facility < 0 {
				return nil, d.nodeErr(`unknown syslog facility "%s"`, val)
			}
		case name == "severity" && strings.HasPrefix(a, "severity="):
			if err := dup(&seenSeverity, name); err != nil {
				return nil, err
			}
			if st.Severity = nameIndex(syslogSeverities, val); st.Severity < 0 {
				return nil, d.nodeErr(`unknown syslog severity "%s"`, val)
			}
		case name == "tag" && strings.HasPrefix(a, "tag="):
			if err := dup(&seenTag, name); err != nil {
				return nil, err
			}
			if len(val) > syslogTagMax {
				return nil, d.nodeErr(`syslog tag length exceeds %d`, syslogTagMax)
			}
			for i := 0; i < len(val); i++ {
				c := val[i]
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
					return nil, d.nodeErr(`syslog "tag" only allows alphanumeric characters and underscore`)
				}
			}
			st.Tag = val
		case a == "nohostname":
			st.NoHostname = true
		default:
			return nil, d.nodeErr(`unknown syslog parameter "%s"`, a)
		}
	}
	if !seenServer {
		return nil, d.nodeErr(`no syslog server specified`)
	}
	return st, nil
}

// parseSyslogServer reads server=: "unix:PATH", "[IPv6][:PORT]" or
// "HOST[:PORT]" (the first colon starts the port, so a bare IPv6 address
// needs brackets, as in nginx). A host name is resolved now, as nginx
// resolves it at load, and its first address is used.
func parseSyslogServer(p *parser, d *node, st *SyslogTarget, s string) error {
	st.Server = s
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return d.nodeErr(`no path in the unix domain socket in syslog server "%s"`, s)
		}
		if len(path) >= len(syscall.RawSockaddrUnix{}.Path) {
			return d.nodeErr(`too long path in the unix domain socket in syslog server "%s"`, s)
		}
		st.Network, st.Addr = "unixgram", path
		return nil
	}
	if strings.ContainsRune(s, '/') {
		return d.nodeErr(`invalid host in syslog server "%s"`, s)
	}
	host, port := s, syslogDefaultPort
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return d.nodeErr(`invalid host in syslog server "%s"`, s)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return d.nodeErr(`invalid host in syslog server "%s"`, s)
			}
			port = rest[1:]
		}
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return d.nodeErr(`invalid IPv6 address in syslog server "%s"`, s)
		}
	} else if h, pt, ok := strings.Cut(s, ":"); ok {
		host, port = h, pt
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
		return d.nodeErr(`invalid port in syslog server "%s"`, s)
	}
	if host == "" {
		return d.nodeErr(`no host in syslog server "%s"`, s)
	}
	ip := host
	if net.ParseIP(host) == nil {
		addrs, err := p.lookup(host)
		if err != nil || len(addrs) == 0 {
			return d.nodeErr(`host not found in syslog server "%s"`, s)
		}
		ip = addrs[0]
	}
	st.Network, st.Addr = "udp", net.JoinHostPort(ip, port)
	return nil
}

// memoryMin is nginx's smallest memory: buffer for a config file name of
// n bytes: a "MEMLOG" header line naming the file, a size and an integer,
// plus one error line (NGX_MAX_ERROR_STR).
func memoryMin(n int) int { return len("MEMLOG  :\n") + 1 + n + 20 + 20 + 2048 }

// parseMemory reads the size after "memory:".
func parseMemory(d *node, s string) (int, error) {
	n, ok := valSize(s)
	if !ok || n < memoryMin(len(d.file)) {
		return 0, d.nodeErr(`invalid buffer size "%s"`, s)
	}
	return n, nil
}
