package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"mailproxy/bench/mockauth"
	"mailproxy/bench/mockbackend"
)

func runMockAuth(args []string) error {
	fs := flag.NewFlagSet("mockauth", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:19080", "address to serve auth_http on")
	imap := fs.String("imap", "", "IMAP backend ip:port returned in Auth-Server/Auth-Port")
	pop3 := fs.String("pop3", "", "POP3 backend ip:port")
	smtp := fs.String("smtp", "", "SMTP backend ip:port")
	pass := fs.String("pass", "pass,secret", "comma-separated passwords accepted for any user (empty: any password)")
	users := fs.String("users", "", "file of user:password lines; listed users must match their own password")
	wait := fs.Int("wait", 0, "Auth-Wait seconds sent with a failure")
	failText := fs.String("fail", "Invalid login or password", "Auth-Status text of a failure")
	fs.Parse(args)

	cfg := mockauth.Config{Wait: *wait, FailText: *failText, Backends: map[string]string{}}
	for name, addr := range map[string]string{"imap": *imap, "pop3": *pop3, "smtp": *smtp} {
		if addr != "" {
			cfg.Backends[name] = addr
		}
	}
	if *pass != "" {
		cfg.Passwords = strings.Split(*pass, ",")
	}
	if *users != "" {
		f, err := os.Open(*users)
		if err != nil {
			return err
		}
		cfg.Users, err = mockauth.LoadUsers(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	srv, err := mockauth.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "mockauth: listening on %s (GET /stats for counters), backends %v\n", ln.Addr(), cfg.Backends)
	go srv.Serve(ln)
	waitSignal()
	srv.Close()
	st, _ := json.Marshal(srv.Stats())
	fmt.Fprintf(os.Stderr, "mockauth: %s\n", st)
	return nil
}

func runMockBackend(args []string) error {
	fs := flag.NewFlagSet("mockbackend", flag.ExitOnError)
	imap := fs.String("imap", "127.0.0.1:19143", "IMAP listen address (empty: off)")
	pop3 := fs.String("pop3", "127.0.0.1:19110", "POP3 listen address (empty: off)")
	smtp := fs.String("smtp", "127.0.0.1:19025", "SMTP listen address (empty: off)")
	size := fs.Int("size", 4096, "size in bytes of the message served by FETCH and RETR")
	name := fs.String("name", "mock.bench", "host name in greetings")
	noLitPlus := fs.Bool("no-literal-plus", false, "IMAP: do not advertise LITERAL+ (the proxy then sends synchronising literals)")
	fs.Parse(args)

	srv := mockbackend.New(mockbackend.Config{Size: *size, Hostname: *name, NoLiteralPlus: *noLitPlus})
	for _, l := range []struct {
		addr  string
		serve func(net.Listener) error
	}{{*imap, srv.ServeIMAP}, {*pop3, srv.ServePOP3}, {*smtp, srv.ServeSMTP}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			srv.Close()
			return err
		}
		go l.serve(ln)
	}
	fmt.Fprintf(os.Stderr, "mockbackend: imap %q pop3 %q smtp %q, message %d bytes\n", *imap, *pop3, *smtp, *size)
	waitSignal()
	srv.Close()
	st, _ := json.Marshal(srv.Stats())
	fmt.Fprintf(os.Stderr, "mockbackend: %s\n", st)
	return nil
}

// waitSignal blocks until SIGINT or SIGTERM.
func waitSignal() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}
