// Command mailbench is the mailproxy benchmark harness: a load generator
// for IMAP, POP3 and SMTP proxies plus the mock auth_http server and mock
// mail backend it runs against. See bench/README.md.
//
//	mailbench mockauth    -listen 127.0.0.1:19080 -imap 127.0.0.1:19143 ...
//	mailbench mockbackend -imap 127.0.0.1:19143 -pop3 ... -smtp ... -size 4096
//	mailbench login       -proto imap -addr 127.0.0.1:1143 -c 50 -d 10s
//	mailbench idle        -proto imap -addr 127.0.0.1:1143 -conns 19000 -pid PID
//	mailbench relay       -proto pop3 -addr 127.0.0.1:1110 -c 8 -d 10s
package main

import (
	"fmt"
	"os"
)

var subcommands = map[string]func(args []string) error{
	"mockauth":    runMockAuth,
	"mockbackend": runMockBackend,
	"login":       runLogin,
	"idle":        runIdle,
	"relay":       runRelay,
	"summary":     runSummary,
}

const usage = `usage: mailbench <subcommand> [flags]

subcommands:
  mockauth     mock nginx auth_http server (HTTP/1.0 and 1.1 keepalive)
  mockbackend  mock IMAP/POP3/SMTP backend serving one message of -size bytes
  login        login loop: connect, greeting, login, one command, logout
  idle         open and hold connections, report proxy memory per connection
  relay        bulk FETCH / RETR / DATA through a proxy, MB/s
  summary      compare -json reports of two labels (medians, ratios, targets)

"mailbench <subcommand> -h" lists its flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	run, ok := subcommands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mailbench: unknown subcommand %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "mailbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
